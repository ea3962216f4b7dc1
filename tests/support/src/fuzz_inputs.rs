//! Inputs for the property tests of the import reader, shared by the unit-level tests
//! (`src/import/proptests/`) and the engine-level ones (`tests/api/fuzz.rs`): seed files
//! from the repository, mutations of them, and a reference count of CSV records that
//! does not use the code under test.
//!
//! Seeds come from `tests/fixtures/` and, when present, `tests/corpus/` — never from
//! outside the repository.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;

/// Longest seed used as is; longer files are cut here, so every case stays fast.
const SEED_MAX_BYTES: usize = 16 * 1024;

/// Extensions of the CSV files among the seeds.
const CSV_EXTENSIONS: [&str; 5] = ["csv", "tsv", "psv", "ssv", "txt"];

/// The seed files, `(path relative to the repository, bytes)`, in a stable order.
pub fn seed_files() -> Vec<(String, Vec<u8>)> {
    let root = crate::repo_root();
    let mut files = Vec::new();
    for dir in ["tests/fixtures", "tests/corpus"] {
        collect(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(!files.is_empty(), "no seed files in tests/fixtures");
    files
        .into_iter()
        .map(|path| {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes.truncate(SEED_MAX_BYTES);
            let name = path.strip_prefix(root).unwrap().display().to_string();
            (name, bytes)
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return; // tests/corpus is optional.
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, files);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CSV_EXTENSIONS.contains(&e))
            && !is_notice(&path)
        {
            files.push(path);
        }
    }
}

/// Licence texts and notes that sit beside the corpus files.
fn is_notice(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_uppercase();
    ["LICEN", "COPYING", "NOTICE", "README", "SOURCES"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Byte strings that matter to a CSV reader: quotes, delimiters, line breaks, byte order
/// marks, NUL, invalid and partial UTF-8, Windows-1252 letters, formula starters.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\"\"",
    b",",
    b";",
    b"\t",
    b"|",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b" ",
    b"\0",
    b"\xEF\xBB\xBF",
    b"\xFF\xFE",
    b"\xFE\xFF",
    b"\xC3",
    b"\xC3\xBC",
    b"\xE9",
    b"\xA0",
    b"\xE2\x80\xAF",
    b"\xE3\x80\x80",
    b"=1+2",
    b"-",
    b"(1,200.00)",
    b"$80,000.00",
    b"2017-02-15",
    b"31/12/2017",
    b"a@b.co",
];

/// One change to a seed file. Positions are `Index`es so that they fit any length.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Replace the byte at a position.
    Set(Index, u8),
    /// Insert one of [`TOKENS`].
    Token(Index, Index),
    /// Insert arbitrary bytes.
    Bytes(Index, Vec<u8>),
    /// Remove up to this many bytes.
    Delete(Index, usize),
    /// Repeat a range of bytes right after itself.
    Duplicate(Index, usize),
    /// Cut the file here.
    Truncate(Index),
    /// Insert a long cell of letters that do not compress (big values in keys).
    LongCell(Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Token(i, t)),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Mutation::Bytes(i, b)),
        2 => (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), 1usize..256).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<u64>()).prop_map(|(i, s)| Mutation::LongCell(i, s)),
    ]
}

/// Applies `mutations` to `seed` in order.
pub fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    // Index::index panics on 0; positions may also point just past the end.
    let at = |i: &Index, len: usize| i.index(len + 1);
    for m in mutations {
        match m {
            Mutation::Set(i, b) if !bytes.is_empty() => {
                let p = i.index(bytes.len());
                bytes[p] = *b;
            }
            Mutation::Set(..) => {}
            Mutation::Token(i, t) => {
                let p = at(i, bytes.len());
                let token = t.get(TOKENS);
                bytes.splice(p..p, token.iter().copied());
            }
            Mutation::Bytes(i, new) => {
                let p = at(i, bytes.len());
                bytes.splice(p..p, new.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let p = at(i, bytes.len());
                let end = (p + n).min(bytes.len());
                bytes.drain(p..end);
            }
            Mutation::Duplicate(i, n) => {
                let p = at(i, bytes.len());
                let end = (p + n).min(bytes.len());
                let copy = bytes[p..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Mutation::Truncate(i) => {
                let p = at(i, bytes.len());
                bytes.truncate(p);
            }
            Mutation::LongCell(i, seed) => {
                let p = at(i, bytes.len());
                bytes.splice(p..p, long_cell(*seed));
            }
        }
    }
    bytes
}

/// 3,000 pseudo-random letters and digits: more than a Postgres index entry may hold.
pub fn long_cell(seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state = seed | 1;
    (0..3000)
        .map(|_| {
            // xorshift64: deterministic, so a failing case replays.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % ALPHABET.len() as u64) as usize]
        })
        .collect()
}

/// A seed file with up to `max_mutations` mutations: `(seed name, bytes)`.
pub fn mutated_seed(
    seeds: &[(String, Vec<u8>)],
    max_mutations: usize,
) -> impl Strategy<Value = (String, Vec<u8>)> + use<> {
    let seeds = seeds.to_vec();
    (
        0..seeds.len(),
        proptest::collection::vec(mutation(), 0..=max_mutations),
    )
        .prop_map(move |(s, mutations)| {
            let (name, seed) = &seeds[s];
            (name.clone(), mutate(seed, &mutations))
        })
}

/// Arbitrary bytes, and bytes drawn mostly from [`TOKENS`] and letters so that they look
/// like CSV often enough to get past the sniffer.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => any::<Index>().prop_map(|t| t.get(TOKENS).to_vec()),
        4 => "[A-Za-z0-9 .]{1,6}".prop_map(String::into_bytes),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(piece, 0..96).prop_map(|pieces| pieces.concat()),
    ]
}

/// One record as the reference reader sees it: the 1-based line where it starts and its
/// fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRecord {
    /// Physical line of the upload where the record starts.
    pub line: u64,
    /// The fields, with every line break inside them written as LF.
    pub fields: Vec<String>,
    /// False for a record that ends with the file inside an open quote.
    pub terminated: bool,
    /// Set by a caller that knows the record is not valid text in its encoding.
    pub invalid_utf8: bool,
}

impl RefRecord {
    /// A blank line or a record of empty or whitespace-only fields: not a row.
    pub fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// Decodes an upload the way `csv_source::open` and the `csv` crate read it: the BOM
/// goes; for UTF-16 the decoder removes one more BOM of its own; then `csv` skips one
/// UTF-8 BOM at the start of what it reads. Malformed sequences become U+FFFD.
pub fn decode(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> String {
    let bom_len = encoding_rs::Encoding::for_bom(bytes).map_or(0, |(_, len)| len);
    let rest = &bytes[bom_len..];
    let text = if encoding == encoding_rs::UTF_8 {
        encoding.decode_without_bom_handling(rest).0
    } else {
        encoding.decode_with_bom_removal(rest).0
    };
    text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned()
}

/// Splits decoded text into records the way RFC 4180 reads them, with the leniency of
/// the `csv` crate: quotes inside an unquoted field are text, text after a closing quote
/// joins the field, an unterminated quote runs to the end of the file, and empty lines
/// are no records. CR, LF and CRLF all end a line.
pub fn reference_records(text: &str, delimiter: char) -> Vec<RefRecord> {
    #[derive(PartialEq)]
    enum State {
        StartRecord,
        StartField,
        InField,
        InQuotes,
        QuoteInQuotes,
    }
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut state = State::StartRecord;
    let (mut line, mut start) = (1u64, 1u64);
    for c in text.chars() {
        if state == State::StartRecord && c != '\n' {
            state = State::StartField;
            start = line;
        }
        match state {
            State::StartRecord => {}
            State::StartField | State::InField | State::QuoteInQuotes if c == delimiter => {
                fields.push(std::mem::take(&mut field));
                state = State::StartField;
            }
            State::StartField | State::InField | State::QuoteInQuotes if c == '\n' => {
                fields.push(std::mem::take(&mut field));
                records.push(RefRecord {
                    line: start,
                    fields: std::mem::take(&mut fields),
                    terminated: true,
                    invalid_utf8: false,
                });
                state = State::StartRecord;
            }
            State::StartField if c == '"' => state = State::InQuotes,
            State::InQuotes if c == '"' => state = State::QuoteInQuotes,
            State::QuoteInQuotes if c == '"' => {
                field.push('"');
                state = State::InQuotes;
            }
            State::InQuotes => field.push(c),
            State::StartField | State::InField | State::QuoteInQuotes => {
                field.push(c);
                state = State::InField;
            }
        }
        if c == '\n' {
            line += 1;
        }
    }
    if state != State::StartRecord {
        // The reader ends the text with a line break; inside open quotes it joins the field.
        if state == State::InQuotes && !text.ends_with('\n') {
            field.push('\n');
        }
        fields.push(field);
        records.push(RefRecord {
            line: start,
            fields,
            terminated: state != State::InQuotes,
            invalid_utf8: false,
        });
    }
    records
}

/// The data rows of decoded text: the non-blank records after the first non-blank one
/// (the header).
pub fn reference_data_rows(text: &str, delimiter: char) -> Vec<RefRecord> {
    reference_records(text, delimiter)
        .into_iter()
        .filter(|r| !r.is_blank())
        .skip(1)
        .collect()
}
