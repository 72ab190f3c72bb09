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

use crate::Edge;
use crate::respond::{self, error, storage_unavailable};
use crate::routing::AppRoute;
use crate::session::{Identity, SessionClaims};
use crate::wire::{Payload, Req, Res};

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
fn cookie_session(edge: &Edge, route: &AppRoute, req: &Req, now: i64) -> Result<Arc<SessionClaims>, Box<Res>> {
    let refusal = match edge.sessions().identify(route, req, now) {
        Ok(Some(Identity { claims, via: "cookie" })) if !crate::proxy::cross_site(req) => return Ok(claims),
        Ok(Some(Identity { via: "cookie", .. })) => {
            error(StatusCode::FORBIDDEN, "cross_origin", "wallet proofs are only taken from the app's own pages")
        }
        Ok(_) => error(
            StatusCode::UNAUTHORIZED,
            "session_required",
            "open a session first (POST /_tma/session): the wallet is kept in it",
        ),
        Err(denied) => denied.response(),
    };
    Err(Box::new(refusal))
}

/// `GET /_tma/ton/proof-payload`.
pub(crate) fn proof_payload(edge: &Edge, route: &AppRoute, req: &Req, now: i64) -> Res {
    let claims = match cookie_session(edge, route, req, now) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let (payload, expires_at) = edge.platform().ton_payloads().issue(claims.sid(), now);
    respond::private_json(serde_json::json!({ "payload": payload, "expires_at": expires_at }))
}

/// `POST /_tma/ton/proof`.
pub(crate) async fn proof(edge: &Edge, route: &AppRoute, req: &Req, payload: Payload, now: i64) -> Res {
    let claims = match cookie_session(edge, route, req, now) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let idle = Duration::from_secs(edge.platform().config().upload_idle_secs);
    let body = match crate::endpoints::read_body(payload, MAX_PROOF_BODY, idle).await {
        Ok(b) => b,
        Err(res) => return res,
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
