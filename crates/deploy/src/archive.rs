//! Archive reading: zip and tar.gz, detected by magic bytes, every entry checked and counted.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;
use tmahost_types::Sha256;

use crate::rules::Parsed;
use crate::rules::{HEADERS_FILE, REDIRECTS_FILE};
use crate::{BundlePath, IngestError, Limits, RuleError, Rules, content_type_for, html_refs};

/// Entries larger than this are checked against the compression-ratio limit; smaller ones
/// (a 1 KB file of spaces compresses 100x legitimately) are bounded by the size limits alone.
const RATIO_CHECK_FLOOR: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Zip,
    TarGz,
}

/// Detects the format from the first bytes; the file name is never consulted.
pub fn sniff_format(head: &[u8]) -> Option<ArchiveFormat> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(ArchiveFormat::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(ArchiveFormat::TarGz)
    } else {
        None
    }
}

/// One file of a validated bundle; its bytes are in `local` until the bundle is dropped.
#[derive(Debug, Clone)]
pub struct BundleFile {
    pub path: BundlePath,
    pub sha256: Sha256,
    pub size: u64,
    pub content_type: String,
    pub local: PathBuf,
}

/// A validated bundle: files sorted by path, and non-fatal warnings for the developer.
#[derive(Debug)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    /// From `_headers` / `_redirects` in the bundle root (those files are not served).
    pub rules: Rules,
    pub warnings: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Bundle {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// Reads and validates the archive at `archive`, extracting file bytes into a fresh temp
/// folder under `work_dir`. On error nothing is left behind.
pub fn ingest(archive: &Path, limits: &Limits, work_dir: &Path) -> Result<Bundle, IngestError> {
    let len = std::fs::metadata(archive)?.len();
    if len > limits.max_archive_bytes {
        return Err(IngestError::ArchiveTooLarge { limit: limits.max_archive_bytes });
    }
    let mut head = [0u8; 4];
    let n = read_up_to(&mut File::open(archive)?, &mut head)?;
    let format = sniff_format(&head[..n]).ok_or(IngestError::UnsupportedFormat)?;

    let dir = tempfile::Builder::new().prefix("bundle-").tempdir_in(work_dir)?;
    let mut c = Collector::new(limits, dir.path());
    match format {
        ArchiveFormat::Zip => read_zip(archive, &mut c)?,
        ArchiveFormat::TarGz => read_tar_gz(archive, &mut c)?,
    }
    let (files, rules, warnings) = c.finish()?;
    Ok(Bundle { files, rules, warnings, _dir: dir })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn read_zip(archive: &Path, c: &mut Collector<'_>) -> Result<(), IngestError> {
    let mut zip = zip::ZipArchive::new(BufReader::new(File::open(archive)?)).map_err(corrupt)?;
    // The crate indexes entries by name, keeping the last of two with one name: the central
    // directory itself says whether there were two.
    let mut directory = BufReader::new(File::open(archive)?);
    if let Some(name) = repeated_zip_name(&mut directory, zip.central_directory_start(), c.limits.max_files)? {
        return Err(IngestError::DuplicatePath(shown(&name)));
    }
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(corrupt)?;
        let name = entry.name_raw().to_vec();
        if let Some(kind) = entry.unix_mode().and_then(special_kind) {
            return Err(IngestError::SpecialFile(shown(&name), kind));
        }
        if entry.is_dir() {
            c.add_dir(&name)?;
            continue;
        }
        let compressed = entry.compressed_size();
        c.add_file(&name, &mut entry, Some(compressed))?;
    }
    Ok(())
}

/// The first file name that two entries of the zip's central directory (at `start`) share.
/// Walks the records themselves (46 fixed bytes, then the name, extra field and comment), at
/// most `max_entries` + 1 of them: more fail the file count anyway.
fn repeated_zip_name(
    reader: &mut (impl Read + io::Seek),
    start: u64,
    max_entries: usize,
) -> Result<Option<Vec<u8>>, IngestError> {
    const CENTRAL_HEADER: [u8; 4] = *b"PK\x01\x02";
    reader.seek(io::SeekFrom::Start(start))?;
    let mut names = HashSet::new();
    let mut fixed = [0u8; 46];
    for _ in 0..=max_entries {
        if read_up_to(reader, &mut fixed)? < fixed.len() || fixed[..4] != CENTRAL_HEADER {
            break;
        }
        let length = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let (name_len, rest) = (length(28), i64::from(length(30)) + i64::from(length(32)));
        let mut name = vec![0u8; usize::from(name_len)];
        reader.read_exact(&mut name).map_err(corrupt)?;
        reader.seek_relative(rest)?;
        // Folder entries name no content; a folder listed twice is harmless.
        if !name.ends_with(b"/") && !names.insert(name.clone()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn read_tar_gz(archive: &Path, c: &mut Collector<'_>) -> Result<(), IngestError> {
    let compressed = Counter::new(BufReader::new(File::open(archive)?));
    let inflated = Inflated {
        compressed: compressed.count.clone(),
        inner: flate2::read::GzDecoder::new(compressed),
        out: 0,
        ratio: c.limits.max_compression_ratio,
        bomb: Default::default(),
    };
    let bomb = inflated.bomb.clone();
    let mut tar = tar::Archive::new(inflated);
    let read = (|| {
        for entry in tar.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let name = entry.path_bytes().into_owned();
            use tar::EntryType as T;
            match entry.header().entry_type() {
                T::Regular | T::Continuous => c.add_file(&name, &mut entry, None)?,
                T::Directory => c.add_dir(&name)?,
                // Headers without a file still cost a read each: counted, so an archive of
                // headers alone is bounded by the entry limit like any other.
                T::XGlobalHeader => c.count_entry()?,
                T::Symlink => return Err(IngestError::SpecialFile(shown(&name), "symbolic link")),
                T::Link => return Err(IngestError::SpecialFile(shown(&name), "hard link")),
                T::Char | T::Block => return Err(IngestError::SpecialFile(shown(&name), "device")),
                T::Fifo => return Err(IngestError::SpecialFile(shown(&name), "FIFO")),
                _ => return Err(IngestError::SpecialFile(shown(&name), "special tar entry")),
            }
        }
        Ok(())
    })();
    // Whatever the reader's refusal surfaced as (the tar crate wraps it), it was a bomb.
    match read {
        Err(_) if bomb.get() => {
            Err(IngestError::CompressionRatio("the tar.gz stream".into(), c.limits.max_compression_ratio))
        }
        other => other,
    }
}

/// The inflated tar stream, refused once it exceeds `ratio` times the compressed bytes read so
/// far (past [`RATIO_CHECK_FLOOR`]). Everything counts — file bytes, headers, the extended
/// headers the tar crate reads into memory by itself, padding — so an archive of headers alone
/// is bounded like one of files, and the work of an upload by its compressed size.
struct Inflated<R> {
    inner: R,
    compressed: std::rc::Rc<std::cell::Cell<u64>>,
    out: u64,
    ratio: u64,
    bomb: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<R: Read> Read for Inflated<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        if self.out > RATIO_CHECK_FLOOR && self.out > self.ratio.saturating_mul(self.compressed.get().max(1)) {
            self.bomb.set(true);
            return Err(io::Error::other("the tar.gz stream inflates beyond the compression-ratio limit"));
        }
        Ok(n)
    }
}

fn corrupt(e: impl std::fmt::Display) -> IngestError {
    IngestError::Corrupt(e.to_string())
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// The file type bits of a Unix mode, when they name something other than a file or folder.
fn special_kind(mode: u32) -> Option<&'static str> {
    match mode & 0o170000 {
        0o120000 => Some("symbolic link"),
        0o020000 | 0o060000 => Some("device"),
        0o010000 => Some("FIFO"),
        0o140000 => Some("socket"),
        _ => None,
    }
}

/// Operating-system litter that zip tools add; dropped silently.
pub(crate) fn is_junk(path: &BundlePath) -> bool {
    path.as_str().starts_with("__MACOSX/") || matches!(path.file_name(), ".DS_Store" | "Thumbs.db" | "desktop.ini")
}

/// Shared bookkeeping of both formats: names, counts, sizes, duplicates.
struct Collector<'a> {
    limits: &'a Limits,
    dir: &'a Path,
    files: Vec<BundleFile>,
    seen: HashSet<BundlePath>,
    entries: usize,
    total: u64,
}

impl<'a> Collector<'a> {
    fn new(limits: &'a Limits, dir: &'a Path) -> Self {
        Self { limits, dir, files: Vec::new(), seen: HashSet::new(), entries: 0, total: 0 }
    }

    /// A folder entry: counted like a file (the limit bounds the work an upload costs, and
    /// millions of empty folders compress to almost nothing), its name validated (its files
    /// are checked when they come).
    fn add_dir(&mut self, raw: &[u8]) -> Result<(), IngestError> {
        self.count_entry()?;
        BundlePath::parse(raw, self.limits.max_path_bytes).map(|_| ())
    }

    /// One more entry of the archive, of any kind, against `max_files`.
    fn count_entry(&mut self) -> Result<(), IngestError> {
        self.entries += 1;
        if self.entries > self.limits.max_files {
            return Err(IngestError::TooManyFiles { limit: self.limits.max_files });
        }
        Ok(())
    }

    fn add_file(&mut self, raw: &[u8], reader: &mut dyn Read, compressed: Option<u64>) -> Result<(), IngestError> {
        let Some(path) = BundlePath::parse(raw, self.limits.max_path_bytes)? else {
            return Err(IngestError::InvalidPath(shown(raw), "a file cannot be the bundle root"));
        };
        self.count_entry()?;
        if is_junk(&path) {
            return Ok(());
        }
        if !self.seen.insert(path.clone()) {
            return Err(IngestError::DuplicatePath(path.to_string()));
        }

        let remaining = self.limits.max_total_bytes - self.total;
        let cap = self.limits.max_file_bytes.min(remaining);
        let local = self.dir.join(self.files.len().to_string());
        let mut out =
            HashingWriter { inner: io::BufWriter::new(File::create(&local)?), hasher: sha2::Sha256::new(), n: 0 };
        io::copy(&mut reader.take(cap + 1), &mut out).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput => corrupt(e),
            _ => IngestError::Io(e),
        })?;
        out.inner.flush()?;
        let size = out.n;
        if size > self.limits.max_file_bytes {
            return Err(IngestError::FileTooLarge { path: path.to_string(), limit: self.limits.max_file_bytes });
        }
        if size > remaining {
            return Err(IngestError::BundleTooLarge { limit: self.limits.max_total_bytes });
        }
        if let Some(c) = compressed
            && size > RATIO_CHECK_FLOOR
            && size > self.limits.max_compression_ratio.saturating_mul(c.max(1))
        {
            return Err(IngestError::CompressionRatio(path.to_string(), self.limits.max_compression_ratio));
        }
        self.total += size;
        self.files.push(BundleFile {
            content_type: content_type_for(path.as_str()),
            path,
            sha256: Sha256::from_digest(&out.hasher.finalize()),
            size,
            local,
        });
        Ok(())
    }

    fn finish(self) -> Result<(Vec<BundleFile>, Rules, Vec<String>), IngestError> {
        let mut files = self.files;
        let names = check_tree(files.iter().map(|f| &f.path))?;
        if !names.contains("index.html") {
            files = unwrap_single_folder(files)?;
        }
        let (files, Parsed { rules, warnings: rule_warnings }) = take_rules(files)?;
        let mut warnings: Vec<String> = rule_warnings.iter().map(ToString::to_string).collect();
        warnings.extend(html_refs::missing_references(&files));
        let names: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        warnings.extend(rewrite_warnings(&names, &rules));
        Ok((files, rules, warnings))
    }
}

/// A bundle has files, and no file that is also a folder (both cannot be served). Returns the
/// set of paths.
pub(crate) fn check_tree<'a>(
    paths: impl Iterator<Item = &'a BundlePath> + Clone,
) -> Result<HashSet<&'a str>, IngestError> {
    let names: HashSet<&str> = paths.clone().map(BundlePath::as_str).collect();
    if names.is_empty() {
        return Err(IngestError::Empty);
    }
    if let Some(clash) = paths.flat_map(BundlePath::parents).find(|p| names.contains(p)) {
        return Err(IngestError::DuplicatePath(clash.to_owned()));
    }
    Ok(names)
}

/// SHA-256 and length of a file, read in 64 KiB pieces.
pub fn hash_file(path: &Path) -> io::Result<(Sha256, u64)> {
    let mut out = HashingWriter { inner: io::sink(), hasher: sha2::Sha256::new(), n: 0 };
    io::copy(&mut File::open(path)?, &mut out)?;
    Ok((Sha256::from_digest(&out.hasher.finalize()), out.n))
}

/// Takes `_headers` and `_redirects` out of the served files and parses them (with the lines
/// left out, for the deploy's warnings).
fn take_rules(files: Vec<BundleFile>) -> Result<(Vec<BundleFile>, Parsed), IngestError> {
    let (rule_files, mut files): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|f| [HEADERS_FILE, REDIRECTS_FILE].contains(&f.path.as_str()));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let read = |name: &'static str| -> Result<Option<String>, IngestError> {
        let Some(f) = rule_files.iter().find(|f| f.path.as_str() == name) else { return Ok(None) };
        Ok(Some(rule_text(name, std::fs::read(&f.local)?)?))
    };
    let rules = Rules::parse(read(HEADERS_FILE)?.as_deref(), read(REDIRECTS_FILE)?.as_deref())?;
    Ok((files, rules))
}

/// The text of a `_headers` / `_redirects` file, which must be UTF-8.
pub(crate) fn rule_text(name: &'static str, bytes: Vec<u8>) -> Result<String, RuleError> {
    String::from_utf8(bytes).map_err(|_| RuleError {
        file: name,
        line: 0,
        message: "the file is not UTF-8 text".into(),
    })
}

/// A 200 rewrite to a fixed path the bundle lacks would answer 404: say so at upload.
pub(crate) fn rewrite_warnings(names: &HashSet<&str>, rules: &Rules) -> Vec<String> {
    rules
        .redirects
        .iter()
        .filter(|r| r.status == 200 && !r.to.contains(':'))
        .filter(|r| {
            let target = r.to.split(['?', '#']).next().unwrap_or_default().trim_matches('/');
            let candidates = [target.to_owned(), format!("{target}/index.html"), format!("{target}.html")];
            !candidates.iter().any(|c| names.contains(c.trim_start_matches('/')))
        })
        .map(|r| format!("_redirects: `{} {} 200` rewrites to a file the bundle does not contain", r.from, r.to))
        .collect()
}

/// `dist/index.html`, `dist/assets/…` -> `index.html`, `assets/…`, when everything is in one
/// top-level folder that has an index.html.
fn unwrap_single_folder(files: Vec<BundleFile>) -> Result<Vec<BundleFile>, IngestError> {
    let mut tops: HashMap<&str, usize> = HashMap::new();
    for f in &files {
        let top = f.path.split_first().map_or("", |(t, _)| t);
        *tops.entry(top).or_default() += 1;
    }
    let single = tops.len() == 1 && !tops.contains_key("");
    let has_index = files.iter().any(|f| f.path.split_first().is_some_and(|(_, rest)| rest == "index.html"));
    if !(single && has_index) {
        return Err(IngestError::MissingIndex);
    }
    Ok(files
        .into_iter()
        .map(|mut f| {
            f.path = f.path.strip_first().expect("every path has a top folder");
            f
        })
        .collect())
}

/// Hashes and counts bytes on their way to disk, so a file is read once.
struct HashingWriter<W> {
    inner: W,
    hasher: sha2::Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.hasher.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the compressed bytes the gzip decoder has consumed.
struct Counter<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R> Counter<R> {
    fn new(inner: R) -> Self {
        Self { inner, count: Default::default() }
    }
}

impl<R: Read> Read for Counter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}
