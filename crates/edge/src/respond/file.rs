//! HTTP semantics of a served file: choice of precompressed representation, strong ETags and
//! `304`, byte ranges and `Cache-Control`.

use std::cell::RefCell;

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use tmahost_deploy::Rules;
use tmahost_service::Encoding;

use super::apply_rules;
use crate::content::FileEntry;
use crate::wire::{Reply, Req, Res, value};

/// What to send: a manifest entry and how it was found.
#[derive(Debug)]
pub(crate) struct FileReply<'a> {
    pub entry: &'a FileEntry,
    pub status: StatusCode,
    /// Stands in for another path (SPA index, 404 page): revalidated, never immutable.
    pub fallback: bool,
    /// Behind the initData gate: shared caches must not keep it.
    pub gated: bool,
}

impl FileReply<'_> {
    pub fn cache_control(&self) -> HeaderValue {
        let immutable = !self.fallback && !self.entry.html && self.status == StatusCode::OK && self.entry.fingerprinted;
        match (self.gated, immutable) {
            (true, true) => value!("private, max-age=31536000, immutable"),
            (false, true) => value!("public, max-age=31536000, immutable"),
            (true, false) => value!("private, no-cache"),
            (false, false) => value!("public, no-cache"),
        }
    }

    /// The representation to send: a precompressed variant the client accepts (brotli first),
    /// or the original. Ranges are served from the original only.
    pub fn encoding(&self, req: &Req) -> Option<Encoding> {
        if !self.has_variants() {
            return None;
        }
        let (br, gzip) = accepted_encodings(req);
        let chosen = if self.entry.br && br {
            Some(Encoding::Br)
        } else if self.entry.gz && gzip {
            Some(Encoding::Gzip)
        } else {
            None
        };
        // Asked only when a variant would be sent (most requests without one skip the lookup).
        if chosen.is_some() && self.status == StatusCode::OK && req.headers().contains_key(header::RANGE) {
            return None;
        }
        chosen
    }

    pub fn has_variants(&self) -> bool {
        self.entry.br || self.entry.gz
    }

    /// The client holds this representation already (`If-None-Match`): a `304`, no bytes needed.
    pub fn unchanged(&self, req: &Req, enc: Option<Encoding>) -> bool {
        self.status == StatusCode::OK && not_modified(req, self.entry.etag(enc))
    }
}

/// Whether brotli and gzip are accepted: named with a non-zero quality (`*` stands for both).
/// Read as bytes: it runs on every file request.
fn accepted_encodings(req: &Req) -> (bool, bool) {
    let mut values = req.headers().get_all(header::ACCEPT_ENCODING).iter();
    match (values.next(), values.next()) {
        (None, _) => (false, false),
        (Some(one), None) => LAST_ACCEPTED.with_borrow_mut(|last| last.read(one.as_bytes())),
        _ => read_encodings(req.headers().get_all(header::ACCEPT_ENCODING)),
    }
}

thread_local! {
    static LAST_ACCEPTED: RefCell<LastAccepted> = const { RefCell::new(LastAccepted { value: Vec::new(), accepted: (false, false) }) };
}

/// The last single `Accept-Encoding` value a worker read, and what it accepts: a browser sends
/// the same value on every request, so reading it again is one comparison.
struct LastAccepted {
    value: Vec<u8>,
    accepted: (bool, bool),
}

impl LastAccepted {
    /// Longer values are read every time (browsers send some 20-40 bytes).
    const MAX: usize = 128;

    fn read(&mut self, value: &[u8]) -> (bool, bool) {
        if *self.value != *value {
            let accepted = read_encodings([value]);
            if value.len() > Self::MAX {
                return accepted;
            }
            self.value.clear();
            self.value.extend_from_slice(value);
            self.accepted = accepted;
        }
        self.accepted
    }
}

fn read_encodings(values: impl IntoIterator<Item = impl AsRef<[u8]>>) -> (bool, bool) {
    let (mut br, mut gzip) = (false, false);
    for value in values {
        for item in value.as_ref().split(|&b| b == b',') {
            let (name, params) = match item.iter().position(|&b| b == b';') {
                Some(i) => (&item[..i], &item[i + 1..]),
                None => (item, &[][..]),
            };
            if !params.is_empty() && zero_quality(params) {
                continue;
            }
            let name = name.trim_ascii();
            if name.eq_ignore_ascii_case(b"br") {
                br = true;
            } else if name.eq_ignore_ascii_case(b"gzip") || name.eq_ignore_ascii_case(b"x-gzip") {
                gzip = true;
            } else if name == b"*" {
                (br, gzip) = (true, true);
            }
        }
    }
    (br, gzip)
}

/// `q=0` (or less) among an encoding's parameters; an unreadable `q` counts as 1.
fn zero_quality(params: &[u8]) -> bool {
    params
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .find_map(|p| p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")))
        .and_then(|q| std::str::from_utf8(q).ok()?.parse::<f32>().ok())
        .is_some_and(|q| q <= 0.0)
}

/// `If-None-Match` lists this tag (or `*`). Weak comparison, as RFC 9110 specifies for it.
/// Read as bytes: every revalidation runs it.
fn not_modified(req: &Req, tag: &HeaderValue) -> bool {
    let tag = tag.as_bytes();
    req.headers().get_all(header::IF_NONE_MATCH).iter().any(|v| {
        let v = v.as_bytes();
        // What clients send nearly always: the one tag they were given.
        v == tag
            || v.split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .any(|t| t == b"*" || t.strip_prefix(b"W/").unwrap_or(t) == tag)
    })
}

/// The header maps of file responses, one per shape (304 or not, `Vary` or not, which
/// encoding, `Accept-Ranges` or not), made once per edge. A response clones its shape's map
/// and writes its own values in place: a clone is two allocations, where inserting the nine
/// names one by one hashed each (callgrind: ~1,400 instructions of a 304's ~18,000).
#[derive(Debug)]
pub(crate) struct FileHeaders {
    shapes: Vec<HeaderMap>,
}

/// Stands for a value each response writes (the `ETag`, `Cache-Control` and `Content-Type`
/// here, the request id in `serve::handle`); never sent.
const UNSET: HeaderValue = HeaderValue::from_static("");

impl FileHeaders {
    /// `csp`: the platform's `Content-Security-Policy` as this edge sends it.
    pub fn new(csp: &HeaderValue) -> Self {
        let mut shapes = Vec::with_capacity(Self::SHAPES);
        for i in 0..Self::SHAPES {
            let (unchanged, variants, enc, ranges) = Self::shape_of(i);
            let mut fields = vec![(header::ETAG, UNSET), (header::CACHE_CONTROL, UNSET)];
            if variants {
                fields.push((header::VARY, value!("Accept-Encoding")));
            }
            if !unchanged {
                fields.push((header::CONTENT_TYPE, UNSET));
                if let Some(e) = enc {
                    fields.push((header::CONTENT_ENCODING, HeaderValue::from_static(e.name())));
                }
                if ranges {
                    fields.push((header::ACCEPT_RANGES, value!("bytes")));
                }
            }
            fields.extend([
                (header::X_CONTENT_TYPE_OPTIONS, value!(super::NOSNIFF)),
                (header::CONTENT_SECURITY_POLICY, csp.clone()),
                (header::REFERRER_POLICY, value!(super::REFERRER_POLICY)),
                (crate::wire::X_REQUEST_ID, UNSET),
            ]);
            let mut map = HeaderMap::with_capacity(fields.len());
            for (name, value) in fields {
                map.append(name, value);
            }
            shapes.push(map);
        }
        Self { shapes }
    }

    /// Two 304 shapes (with `Vary` or not), then the others: `Vary` x encoding x ranges.
    const SHAPES: usize = 2 + 2 * 3 * 2;

    fn shape_of(i: usize) -> (bool, bool, Option<Encoding>, bool) {
        if i < 2 {
            return (true, i == 1, None, false);
        }
        let i = i - 2;
        let enc = [None, Some(Encoding::Br), Some(Encoding::Gzip)][(i / 2) % 3];
        (false, i / 6 == 1, enc, i % 2 == 1)
    }

    fn index(unchanged: bool, variants: bool, enc: Option<Encoding>, ranges: bool) -> usize {
        if unchanged {
            return usize::from(variants);
        }
        let enc = match enc {
            None => 0,
            Some(Encoding::Br) => 1,
            Some(Encoding::Gzip) => 2,
        };
        2 + usize::from(variants) * 6 + enc * 2 + usize::from(ranges)
    }
}

/// Builds the response for a file whose bytes are `body` (the chosen representation), or the
/// `304` when `body` is `None` (see [`FileReply::unchanged`]). Its request id is left for
/// `serve::handle` to write.
pub(crate) fn file_response(
    shapes: &FileHeaders,
    req: &Req,
    reply: &FileReply<'_>,
    enc: Option<Encoding>,
    body: Option<Bytes>,
    rules: &Rules,
    rule_path: &str,
) -> Res {
    let tag = reply.entry.etag(enc);
    let unchanged = body.is_none();
    // A 304 carries the validators and caching fields only; the metadata of the representation
    // it confirms stays out (RFC 9110 §15.4.5).
    let ranges = !unchanged && reply.status == StatusCode::OK;
    let variants = reply.has_variants();
    let mut headers = shapes.shapes[FileHeaders::index(unchanged, variants, enc, ranges)].clone();
    // By position, in the shape's order (see `FileHeaders::new`): no name is looked up.
    let mut values = headers.values_mut();
    // The values first: `zip` stops on them without taking a third header.
    for (value, v) in [tag.clone(), reply.cache_control()].into_iter().zip(&mut values) {
        *v = value;
    }
    // Past `Vary` when there is one.
    if !unchanged && let Some(v) = values.nth(usize::from(variants)) {
        *v = reply.entry.content_type.clone();
    }
    let mut response = match body {
        Some(body) => ranged(req, tag, reply, enc, body, &mut Reply::with_headers(reply.status, headers)),
        None => Reply::with_headers(StatusCode::NOT_MODIFIED, headers).finish(),
    };
    apply_rules(response.headers_mut(), rules, rule_path);
    response
}

/// The whole body, one requested range of it (`206`), or `416`.
fn ranged(
    req: &Req,
    tag: &HeaderValue,
    reply: &FileReply<'_>,
    enc: Option<Encoding>,
    body: Bytes,
    res: &mut Reply,
) -> Res {
    match requested_range(req, tag, reply, enc, body.len() as u64) {
        Some(Ok((start, end))) => {
            res.status(StatusCode::PARTIAL_CONTENT)
                .append_header((header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", body.len())));
            res.body(body.slice(start as usize..=end as usize))
        }
        Some(Err(())) => {
            res.status(StatusCode::RANGE_NOT_SATISFIABLE)
                .append_header((header::CONTENT_RANGE, format!("bytes */{}", body.len())));
            res.finish()
        }
        None => res.body(body),
    }
}

/// `Some(Ok(range))` for one satisfiable range, `Some(Err)` for an unsatisfiable one, `None`
/// to send the whole file (no `Range`, several ranges, or a stale `If-Range`).
fn requested_range(
    req: &Req,
    tag: &HeaderValue,
    reply: &FileReply<'_>,
    enc: Option<Encoding>,
    len: u64,
) -> Option<Result<(u64, u64), ()>> {
    if reply.status != StatusCode::OK || enc.is_some() || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let value = req.headers().get(header::RANGE)?.to_str().ok()?;
    if let Some(if_range) = req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim().as_bytes() != tag.as_bytes()
    {
        return None;
    }
    let parsed = match http_range_header::parse_range_header(value) {
        Ok(p) => p,
        // A malformed header is ignored (RFC 9110 §14.2), not an error.
        Err(_) => return None,
    };
    match parsed.validate(len) {
        Ok(ranges) if ranges.len() == 1 => Some(Ok((*ranges[0].start(), *ranges[0].end()))),
        Ok(_) => None,
        Err(_) => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::{FileHeaders, LastAccepted, accepted_encodings, not_modified};
    use crate::wire::Req;
    use hyper::header::HeaderValue;

    #[test]
    fn if_none_match_is_a_weak_comparison_of_a_list() {
        let tag = HeaderValue::from_static("\"abc-br\"");
        let matches = |values: &[&[u8]]| {
            let mut req = hyper::Request::builder();
            for v in values {
                req = req.header("if-none-match", HeaderValue::from_bytes(v).expect("value"));
            }
            not_modified(&Req::test(req), &tag)
        };
        assert!(matches(&[b"\"abc-br\""]));
        assert!(matches(&[b"W/\"abc-br\""]));
        assert!(matches(&[b"\"x\", \"abc-br\""]));
        assert!(matches(&[b"\"x\",W/\"abc-br\" "]));
        assert!(matches(&[b"*"]));
        assert!(matches(&[b"\"x\"", b"\"abc-br\""]), "every If-None-Match line counts");
        assert!(!matches(&[b"\"abc\""]));
        assert!(!matches(&[b"\"abc-br\"x"]));
        assert!(!matches(&[b"abc-br"]), "a tag is compared with its quotes");
        assert!(!matches(&[b"\xff\"abc-br\""]));
        assert!(!matches(&[]));
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        let read = |values: &[&str]| {
            let mut req = hyper::Request::builder();
            for v in values {
                req = req.header("accept-encoding", *v);
            }
            accepted_encodings(&Req::test(req))
        };
        assert_eq!(read(&["gzip, deflate, br, zstd"]), (true, true));
        assert_eq!(read(&["br;q=0, gzip;q=0.5"]), (false, true));
        assert_eq!(read(&["BR ; Q=0.0 , X-Gzip"]), (false, true));
        assert_eq!(read(&["*"]), (true, true));
        assert_eq!(read(&["*;q=0"]), (false, false));
        assert_eq!(read(&["identity"]), (false, false));
        assert_eq!(read(&["br;q=abc"]), (true, false), "an unreadable quality counts as 1");
        assert_eq!(read(&["deflate", "br"]), (true, false), "every Accept-Encoding line counts");
        assert_eq!(read(&[]), (false, false));
        // The worker's memo of the last value answers for that value only.
        for _ in 0..2 {
            assert_eq!(read(&["gzip, br"]), (true, true));
            assert_eq!(read(&["gzip, br"]), (true, true));
            assert_eq!(read(&["gzip"]), (false, true));
            assert_eq!(read(&["gzip", "br"]), (true, true));
            assert_eq!(read(&[""]), (false, false));
        }
        let long = format!("{}, br", "x".repeat(LastAccepted::MAX));
        assert_eq!(read(&[&long]), (true, false));
        assert_eq!(read(&["gzip"]), (false, true));
    }

    #[test]
    fn file_responses_fill_their_shape_with_their_own_values() {
        use bytes::Bytes;
        use hyper::StatusCode;
        use hyper::header::{self, HeaderValue};
        use tmahost_service::Encoding;

        use super::{FileReply, file_response};
        use crate::content::FileEntry;

        let shapes = FileHeaders::new(&HeaderValue::from_static("frame-ancestors 'self'"));
        let sha = tmahost_types::Sha256::parse(&"ab".repeat(32)).expect("sha");
        let req = Req::test(hyper::Request::builder());
        for (variants, enc, body) in [
            (true, Some(Encoding::Br), None),
            (true, Some(Encoding::Br), Some(Bytes::from_static(b"x"))),
            (true, None, Some(Bytes::from_static(b"x"))),
            (false, None, None),
            (false, None, Some(Bytes::from_static(b"x"))),
        ] {
            let entry = FileEntry::new("app.3f9a1c2e.js", sha.clone(), "text/javascript", variants, variants);
            let reply = FileReply { entry: &entry, status: StatusCode::OK, fallback: false, gated: true };
            let sent = body.is_some();
            let res = file_response(&shapes, &req, &reply, enc, body, &Default::default(), "/app.3f9a1c2e.js");
            let h = res.headers();
            let case = format!("variants {variants}, {enc:?}, body {sent}");
            assert_eq!(res.status(), if sent { StatusCode::OK } else { StatusCode::NOT_MODIFIED }, "{case}");
            assert_eq!(h.get(header::ETAG), Some(entry.etag(enc)), "{case}");
            assert_eq!(h.get(header::CACHE_CONTROL), Some(&reply.cache_control()), "{case}");
            assert_eq!(h.get(header::VARY).is_some(), variants, "{case}");
            if variants {
                assert_eq!(h[header::VARY], "Accept-Encoding", "{case}");
            }
            assert_eq!(h.get(header::CONTENT_TYPE).map(|v| v.as_bytes()), sent.then_some(&b"text/javascript"[..]));
            assert_eq!(h.get(header::CONTENT_ENCODING).is_some(), sent && enc.is_some(), "{case}");
            assert_eq!(h.get(header::ACCEPT_RANGES).is_some(), sent, "{case}");
            for (name, value) in h {
                assert!(value.as_bytes() != b"" || name == crate::wire::X_REQUEST_ID, "{case}: {name} left unset");
            }
        }
    }

    #[test]
    fn each_file_header_shape_has_its_names_in_order() {
        use hyper::header::{self, HeaderValue};
        let csp = HeaderValue::from_static("frame-ancestors 'self'");
        let shapes = FileHeaders::new(&csp);
        assert_eq!(shapes.shapes.len(), FileHeaders::SHAPES);
        for (i, map) in shapes.shapes.iter().enumerate() {
            let (unchanged, variants, enc, ranges) = FileHeaders::shape_of(i);
            assert_eq!(FileHeaders::index(unchanged, variants, enc, ranges), i);
            let names: Vec<_> = map.keys().map(|n| n.as_str()).collect();
            let mut want = vec!["etag", "cache-control"];
            if variants {
                want.push("vary");
            }
            if !unchanged {
                want.push("content-type");
                if enc.is_some() {
                    want.push("content-encoding");
                }
                if ranges {
                    want.push("accept-ranges");
                }
            }
            want.extend(["x-content-type-options", "content-security-policy", "referrer-policy", "x-request-id"]);
            assert_eq!(names, want, "shape {i}");
            assert_eq!(map.get(header::CONTENT_SECURITY_POLICY), Some(&csp));
            if let Some(e) = enc {
                assert_eq!(map.get(header::CONTENT_ENCODING).map(|v| v.as_bytes()), Some(e.name().as_bytes()));
            }
        }
    }
}
