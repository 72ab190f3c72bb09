//! `/_tma/ton/*`: TON Connect wallet proofs done by the edge. `GET proof-payload` gives a
//! session a payload to have its wallet sign (bound to the session, expiring); `POST proof`
//! takes what TON Connect UI returns (`account` and `ton_proof`), verifies it offline
//! (`tmahost_types::ton`), records the payload as used on every edge, and puts the wallet in
//! the session: `/_tma/me` shows it and app backends get it in `Tma-Identity`.

use std::sync::Arc;
use std::time::Duration;

use hyper::{StatusCode, header};
use serde::Deserialize;
use tmahost_types::ton::{self, Account, Expected, Proof, ProofError};

use crate::gate::{Caller, Gate, Via, denied};
use crate::respond::{self, body_refused, error, storage_unavailable};
use crate::session::SessionClaims;
use crate::state::Edge;
use crate::wire::{Payload, Res, read_body};

/// `account` and `ton_proof` are a few KB (the stateInit is the largest part).
const MAX_PROOF_BODY: usize = 16 * 1024;

/// The body of `POST /_tma/ton/proof`: `wallet.account`, and `wallet.connectItems.tonProof`
/// as TON Connect UI returns it (`{name, proof}`) or its `proof` alone.
#[derive(Debug, Deserialize)]
struct ProofRequest {
    account: Account,
    ton_proof: TonProofItem,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TonProofItem {
    Item { proof: Proof },
    Proof(Proof),
}

/// The caller's cookie session, from one of the app's own pages: a proof's wallet is kept in
/// the session, which `Authorization: tma` callers do not have.
fn cookie_session(gate: &Gate<'_>) -> Result<Arc<SessionClaims>, Box<Res>> {
    let refusal = match gate.caller() {
        Ok(Some(Caller { claims, via: Via::Cookie })) if !gate.cross_site() => return Ok(claims.clone()),
        Ok(Some(Caller { via: Via::Cookie, .. })) => {
            error(StatusCode::FORBIDDEN, "cross_origin", "wallet proofs are only taken from the app's own pages")
        }
        Ok(_) => error(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "open a session first (POST /_tma/session): the wallet is kept in it",
        ),
        Err(d) => denied(d),
    };
    Err(Box::new(refusal))
}

/// `GET /_tma/ton/proof-payload`.
pub(crate) fn proof_payload(edge: &Edge, gate: &Gate<'_>) -> Res {
    let now = gate.now;
    let claims = match cookie_session(gate) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let (payload, expires_at) = edge.platform().ton_payloads().issue(claims.sid(), now);
    respond::private_json(serde_json::json!({ "payload": payload, "expires_at": expires_at }))
}

/// `POST /_tma/ton/proof`.
pub(crate) async fn proof(edge: &Edge, gate: &Gate<'_>, payload: Payload) -> Res {
    let (req, now) = (gate.req, gate.now);
    let claims = match cookie_session(gate) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let idle = Duration::from_secs(edge.platform().config().api.upload_idle_secs);
    let body = match read_body(payload, MAX_PROOF_BODY, idle).await {
        Ok(b) => b,
        Err(e) => return body_refused(e),
    };
    let request: ProofRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "proof_malformed",
                &format!("send {{\"account\": wallet.account, \"ton_proof\": wallet.connectItems.tonProof}}: {e}"),
            );
        }
    };
    let proof = match &request.ton_proof {
        TonProofItem::Item { proof } | TonProofItem::Proof(proof) => proof,
    };
    let issued = match edge.platform().ton_payloads().check(&proof.payload, claims.sid(), now) {
        Ok(p) => p,
        Err(e) => return refused(&e),
    };
    // The domain a wallet signs is the dapp's host, with the port when the URL had one.
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let domain =
        if proof.domain.value.contains(':') { host.as_str() } else { host.split(':').next().unwrap_or_default() };
    let wallet = match ton::verify(&request.account, proof, Expected { domain, now }) {
        Ok(w) => w,
        Err(e) => return refused(&e),
    };
    match edge.platform().use_ton_proof_payload(&issued).await {
        Ok(true) => {}
        Ok(false) => {
            return error(StatusCode::CONFLICT, "payload_used", "this payload was used already; ask for a new one");
        }
        Err(e) => return storage_unavailable(&e),
    }
    let updated = claims.with_wallet(wallet.clone());
    let Some(jwt) = edge.sessions().mint(&updated) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not update the session");
    };
    respond::session_opened(&jwt, updated.remaining(now), serde_json::json!({ "wallet": wallet }))
}

fn refused(e: &ProofError) -> Res {
    let code = match e {
        ProofError::Malformed(_) => "proof_malformed",
        ProofError::UnknownNetwork(_) => "unknown_network",
        ProofError::StateInit(_) => "state_init_unreadable",
        ProofError::UnknownWallet => "wallet_unsupported",
        ProofError::AddressMismatch => "address_mismatch",
        ProofError::DomainMismatch(_) => "domain_mismatch",
        ProofError::Timestamp => "proof_expired",
        ProofError::Signature => "signature_invalid",
        ProofError::Payload => "payload_invalid",
    };
    error(StatusCode::BAD_REQUEST, code, &e.to_string())
}
