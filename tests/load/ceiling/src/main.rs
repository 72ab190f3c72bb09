//! The HTTP stack's ceiling for `run.sh`: one handler that answers from memory with the bytes
//! and headers tmahost sent for the same request (captured by `bench.py mirror`). It does what
//! a static host cannot avoid (a path lookup, the encoding choice, the `If-None-Match`
//! comparison) and nothing else, so tmahost/ceiling is the share of the time tmahost's own work
//! takes. On hyper 1.x (the edge's stack) by default; on actix-web when the fifth argument is
//! `actix` (the edge's stack until issue 22, and still the API's). Not shipped.
//!
//! Usage: `ceiling ADDR WORKERS ROOT HEADERS_JSON [hyper|actix]`

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One representation of a file: its bytes and the headers tmahost sent with them, ready for
/// either stack (actix-web 4 and hyper 1 use different versions of the `http` types).
#[derive(Debug)]
struct Rep {
    body: web::Bytes,
    actix: Vec<(HeaderName, HeaderValue)>,
    hyper: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    etag: Option<Vec<u8>>,
}

/// A path's representations: identity, brotli and gzip (those the edge has).
#[derive(Debug, Default)]
struct Entry {
    identity: Option<Rep>,
    br: Option<Rep>,
    gzip: Option<Rep>,
}

type Files = HashMap<String, Entry>;

fn load(root: &str, headers_json: &str) -> Result<Files, String> {
    let text = fs::read_to_string(headers_json).map_err(|e| format!("{headers_json}: {e}"))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{headers_json}: {e}"))?;
    let doc = doc.as_object().ok_or("headers file: not an object")?;
    let mut files = Files::new();
    for (path, spec) in doc {
        let file = spec["file"].as_str().ok_or("headers file: entry without `file`")?;
        let mut entry = Entry::default();
        for (enc, ext) in [("", ""), ("br", ".br"), ("gzip", ".gz")] {
            let Some(list) = spec["reps"][enc].as_array() else { continue };
            let body = fs::read(format!("{root}/{file}{ext}")).map_err(|e| format!("{file}{ext}: {e}"))?;
            let mut rep = Rep { body: body.into(), actix: Vec::new(), hyper: Vec::new(), etag: None };
            for pair in list {
                let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
                    return Err(format!("{path}: a header is not [name, value]"));
                };
                let bad = |e: &dyn std::fmt::Display| format!("{path}: {e}");
                rep.actix.push((
                    HeaderName::try_from(name).map_err(|e| bad(&e))?,
                    HeaderValue::try_from(value).map_err(|e| bad(&e))?,
                ));
                rep.hyper.push((
                    hyper::header::HeaderName::try_from(name).map_err(|e| bad(&e))?,
                    hyper::header::HeaderValue::try_from(value).map_err(|e| bad(&e))?,
                ));
                if name.eq_ignore_ascii_case("etag") {
                    rep.etag = Some(value.as_bytes().to_vec());
                }
            }
            match enc {
                "br" => entry.br = Some(rep),
                "gzip" => entry.gzip = Some(rep),
                _ => entry.identity = Some(rep),
            }
        }
        files.insert(path.clone(), entry);
    }
    Ok(files)
}

/// The representation to send for `path`, and whether the client holds it already (304).
fn choose<'f>(files: &'f Files, path: &str, accept: &[u8], if_none_match: Option<&[u8]>) -> Option<(&'f Rep, bool)> {
    let entry = files.get(path)?;
    let has = |name: &[u8]| accept.windows(name.len()).any(|w| w == name);
    let rep = match (&entry.br, &entry.gzip, &entry.identity) {
        (Some(br), _, _) if has(b"br") => br,
        (_, Some(gz), _) if has(b"gzip") => gz,
        (_, _, Some(id)) => id,
        _ => return None,
    };
    let unchanged = rep.etag.is_some() && rep.etag.as_deref() == if_none_match;
    Some((rep, unchanged))
}

/// A 304 carries no representation metadata, as tmahost's do not.
fn left_out_of_304(name: &str) -> bool {
    name == "content-type" || name == "content-encoding"
}

async fn answer(req: HttpRequest, files: web::Data<Files>) -> HttpResponse {
    let accept = req.headers().get(header::ACCEPT_ENCODING).map(|v| v.as_bytes()).unwrap_or_default();
    let inm = req.headers().get(header::IF_NONE_MATCH).map(|v| v.as_bytes());
    let Some((rep, unchanged)) = choose(&files, req.path(), accept, inm) else {
        return HttpResponse::NotFound().finish();
    };
    let mut res = HttpResponse::build(if unchanged { StatusCode::NOT_MODIFIED } else { StatusCode::OK });
    for (name, value) in &rep.actix {
        if !(unchanged && left_out_of_304(name.as_str())) {
            res.append_header((name.clone(), value.clone()));
        }
    }
    if unchanged { res.finish() } else { res.body(rep.body.clone()) }
}

type HyperBody = http_body_util::Full<web::Bytes>;

fn answer_hyper(files: &Files, req: &hyper::Request<hyper::body::Incoming>) -> hyper::Response<HyperBody> {
    let headers = req.headers();
    let accept = headers.get(hyper::header::ACCEPT_ENCODING).map(|v| v.as_bytes()).unwrap_or_default();
    let inm = headers.get(hyper::header::IF_NONE_MATCH).map(|v| v.as_bytes());
    let mut res = hyper::Response::new(HyperBody::default());
    let Some((rep, unchanged)) = choose(files, req.uri().path(), accept, inm) else {
        *res.status_mut() = hyper::StatusCode::NOT_FOUND;
        return res;
    };
    for (name, value) in &rep.hyper {
        if !(unchanged && left_out_of_304(name.as_str())) {
            res.headers_mut().append(name.clone(), value.clone());
        }
    }
    if unchanged {
        *res.status_mut() = hyper::StatusCode::NOT_MODIFIED;
    } else {
        *res.body_mut() = HyperBody::new(rep.body.clone());
    }
    res
}

/// hyper's HTTP/1 server, one task per connection: on the calling thread alone for one worker
/// (as an actix worker runs), else on a runtime of `workers` threads.
fn serve_hyper(addr: &str, workers: usize, files: Files) -> std::io::Result<()> {
    let files = Arc::new(files);
    let runtime = match workers {
        1 => tokio::runtime::Builder::new_current_thread().enable_all().build()?,
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build()?,
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            let files = files.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let res = answer_hyper(&files, &req);
                    async move { Ok::<_, Infallible>(res) }
                });
                // A client that goes away mid-request is not the benchmark's concern.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (addr, workers, root, headers, stack) = match args.as_slice() {
        [_, addr, workers, root, headers] => (addr, workers, root, headers, "hyper"),
        [_, addr, workers, root, headers, stack] => (addr, workers, root, headers, stack.as_str()),
        _ => {
            eprintln!("usage: ceiling ADDR WORKERS ROOT HEADERS_JSON [hyper|actix]");
            std::process::exit(2);
        }
    };
    let workers: usize = workers.parse().map_err(|_| std::io::Error::other("WORKERS: not a number"))?;
    let files = load(root, headers).map_err(std::io::Error::other)?;
    match stack {
        "hyper" => serve_hyper(addr, workers, files),
        "actix" => {
            let files = web::Data::new(files);
            actix_web::rt::System::new().block_on(
                HttpServer::new(move || App::new().app_data(files.clone()).default_service(web::to(answer)))
                    .workers(workers)
                    // The socket options of the edge (and of nginx's default `tcp_nodelay on`).
                    .tcp_nodelay(true)
                    .bind(addr.as_str())?
                    .run(),
            )
        }
        other => Err(std::io::Error::other(format!("unknown stack `{other}`: actix or hyper"))),
    }
}
