//! The HTTP stack's ceiling for `run.sh`: actix-web with one handler that answers from memory
//! with the bytes and headers tmahost sent for the same request (captured by `bench.py
//! mirror`). It does what a static host cannot avoid (a path lookup, the encoding choice,
//! the `If-None-Match` comparison) and nothing else, so tmahost/ceiling is the share of the
//! time tmahost's own work takes. Not shipped.
//!
//! Usage: `ceiling ADDR WORKERS ROOT HEADERS_JSON`

use std::collections::HashMap;
use std::fs;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One representation of a file: its bytes and the headers tmahost sent with them.
#[derive(Debug)]
struct Rep {
    body: web::Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    etag: Option<HeaderValue>,
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
            let mut headers = Vec::new();
            for pair in list {
                let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) else {
                    return Err(format!("{path}: a header is not [name, value]"));
                };
                let name = HeaderName::try_from(name).map_err(|e| format!("{path}: {e}"))?;
                let value = HeaderValue::try_from(value).map_err(|e| format!("{path}: {e}"))?;
                headers.push((name, value));
            }
            let etag = headers.iter().find(|(n, _)| n == header::ETAG).map(|(_, v)| v.clone());
            let rep = Some(Rep { body: body.into(), headers, etag });
            match enc {
                "br" => entry.br = rep,
                "gzip" => entry.gzip = rep,
                _ => entry.identity = rep,
            }
        }
        files.insert(path.clone(), entry);
    }
    Ok(files)
}

async fn answer(req: HttpRequest, files: web::Data<Files>) -> HttpResponse {
    let Some(entry) = files.get(req.path()) else {
        return HttpResponse::NotFound().finish();
    };
    let accept = req.headers().get(header::ACCEPT_ENCODING).map(|v| v.as_bytes()).unwrap_or_default();
    let has = |name: &[u8]| accept.windows(name.len()).any(|w| w == name);
    let rep = match (&entry.br, &entry.gzip, &entry.identity) {
        (Some(br), _, _) if has(b"br") => br,
        (_, Some(gz), _) if has(b"gzip") => gz,
        (_, _, Some(id)) => id,
        _ => return HttpResponse::NotFound().finish(),
    };
    let unchanged = match (&rep.etag, req.headers().get(header::IF_NONE_MATCH)) {
        (Some(tag), Some(inm)) => tag == inm,
        _ => false,
    };
    let mut res = HttpResponse::build(if unchanged { StatusCode::NOT_MODIFIED } else { StatusCode::OK });
    for (name, value) in &rep.headers {
        if unchanged && (name == header::CONTENT_TYPE || name == header::CONTENT_ENCODING) {
            continue;
        }
        res.append_header((name.clone(), value.clone()));
    }
    if unchanged { res.finish() } else { res.body(rep.body.clone()) }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, workers, root, headers] = args.as_slice() else {
        eprintln!("usage: ceiling ADDR WORKERS ROOT HEADERS_JSON");
        std::process::exit(2);
    };
    let workers: usize = workers.parse().map_err(|_| std::io::Error::other("WORKERS: not a number"))?;
    let files = web::Data::new(load(root, headers).map_err(std::io::Error::other)?);
    HttpServer::new(move || App::new().app_data(files.clone()).default_service(web::to(answer)))
        .workers(workers)
        .bind(addr.as_str())?
        .run()
        .await
}
