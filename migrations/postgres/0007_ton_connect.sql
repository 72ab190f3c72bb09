-- TON Connect (issue 20). Keep in step with migrations/sqlite/0007_ton_connect.sql.

-- Proof payloads already used to show a wallet (by nonce): a proof counts once, on any edge.
CREATE TABLE used_ton_proof_payloads (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
