//! Archive builders for tests: well-formed bundles and every kind of malformed one.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

/// A small but realistic Vite-style app.
pub fn sample_app(version: &str) -> Vec<(String, Vec<u8>)> {
    let js = format!("console.log('hello from {version}');\n{}", "export const x = 1;\n".repeat(200));
    vec![
        (
            "index.html".into(),
            format!(
                "<!doctype html><html><head><title>{version}</title>\
                 <script type=\"module\" src=\"/assets/index-BXk3f9a1.js\"></script>\
                 <link rel=\"stylesheet\" href=\"/assets/index-Dq2x7s0v.css\"></head>\
                 <body><div id=\"app\">{version}</div></body></html>"
            )
            .into_bytes(),
        ),
        ("assets/index-BXk3f9a1.js".into(), js.into_bytes()),
        ("assets/index-Dq2x7s0v.css".into(), "body { margin: 0; color: #222; }\n".repeat(60).into_bytes()),
        ("favicon.ico".into(), vec![0, 0, 1, 0, 1, 0, 16, 16]),
    ]
}

pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(name.as_str(), SimpleFileOptions::default()).expect("start_file");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

/// A zip whose entries are `files` and then `repeat` again under the name of the first file,
/// as Python's `zipfile` writes when given one name twice (the `zip` crate's writer refuses
/// that): written under a placeholder name of the same length, then renamed in the bytes.
pub fn zip_with_repeated_name(files: &[(String, Vec<u8>)], repeat: &[u8]) -> Vec<u8> {
    let name = files.first().map(|(n, _)| n.as_str()).expect("a first file");
    let placeholder: String = "~".repeat(name.len());
    let mut with_placeholder = files.to_vec();
    with_placeholder.push((placeholder.clone(), repeat.to_vec()));
    let mut bytes = zip(&with_placeholder);
    // The placeholder appears once in its local header and once in its central record.
    let mut renamed = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(name.len()).position(|w| w == placeholder.as_bytes()) {
        bytes[i + at..i + at + name.len()].copy_from_slice(name.as_bytes());
        i += at + name.len();
        renamed += 1;
    }
    assert_eq!(renamed, 2, "the placeholder name is in both headers");
    bytes
}

/// A zip with a symbolic link entry.
pub fn zip_with_symlink(files: &[(String, Vec<u8>)], link: &str, target: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(name.as_str(), SimpleFileOptions::default()).expect("start_file");
        w.write_all(data).expect("write");
    }
    w.add_symlink(link, target, SimpleFileOptions::default()).expect("symlink");
    w.finish().expect("finish").into_inner()
}

/// One tar entry, with the raw name written into the header unchecked (the `tar` crate's
/// builder would refuse `..` and absolute names, which is exactly what tests need).
#[derive(Debug, Clone)]
pub struct TarEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub data: Vec<u8>,
    pub link: Option<String>,
}

impl TarEntry {
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self { name: name.as_bytes().to_vec(), kind: tar::EntryType::Regular, data: data.to_vec(), link: None }
    }
    pub fn raw(name: &[u8], data: &[u8]) -> Self {
        Self { name: name.to_vec(), kind: tar::EntryType::Regular, data: data.to_vec(), link: None }
    }
    pub fn special(name: &str, kind: tar::EntryType, link: Option<&str>) -> Self {
        Self { name: name.as_bytes().to_vec(), kind, data: Vec::new(), link: link.map(str::to_owned) }
    }
}

pub fn tar_gz_entries(entries: &[TarEntry]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        {
            let name = &mut h.as_old_mut().name;
            assert!(e.name.len() <= name.len(), "test entry names must fit the 100-byte header");
            name[..e.name.len()].copy_from_slice(&e.name);
        }
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = &e.link {
            h.set_link_name(l).expect("link name");
        }
        h.set_cksum();
        b.append(&h, &e.data[..]).expect("append");
    }
    b.into_inner().expect("tar").finish().expect("gzip")
}

pub fn tar_gz(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<TarEntry> = files.iter().map(|(n, d)| TarEntry::file(n, d)).collect();
    tar_gz_entries(&entries)
}

/// `n` files of about `total / n` bytes each, of text that compresses like real JS (not
/// all-zero), plus an index.html. Every byte depends on `seed`.
pub fn many_files(n: usize, total: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let per = total / n.max(1);
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let words =
        ["const", "let", "function", "return", "=>", "{", "}", "(", ")", ";", "value", "props", "await", "import"];
    let mut files = vec![("index.html".to_owned(), b"<!doctype html><script src=\"/assets/f0.js\"></script>".to_vec())];
    for i in 0..n.saturating_sub(1) {
        let mut body = Vec::with_capacity(per + 16);
        while body.len() < per {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.extend_from_slice(words[(state % words.len() as u64) as usize].as_bytes());
            body.extend_from_slice(format!("{} ", state % 997).as_bytes());
        }
        files.push((format!("assets/f{i}.js"), body));
    }
    files
}
