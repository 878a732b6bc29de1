//! Bounded reading of an inventory CSV data file: lines of at most `max` bytes, whatever the
//! file decompresses to, and the quarantined rows of one data file capped while they are read.
//!
//! Invariants: memory is bounded by `max` plus the reader's buffer, never by the length of a
//! line (a longer line is returned as its first [`RAW_MAX`] bytes and its full length); every
//! reject is counted, and only the first [`MAX_STORED_REJECTS`] of a data file are kept.
//! The cut of `raw` and the cap are the shared ones of [`crate::ingest::rejects`].

use std::collections::BTreeMap;
use std::io::{self, BufRead};

use crate::ingest::rejects::{truncate_raw, RejectRow, MAX_STORED as MAX_STORED_REJECTS, RAW_MAX};

use super::rows::RowReject;

/// `raw` for `_rejects`: the bytes as lossy UTF-8, cut at a character boundary to at most
/// [`RAW_MAX`] bytes (the same cut as every other reject's).
pub fn truncated_raw(bytes: &[u8]) -> String {
    truncate_raw(String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_MAX)]).into_owned())
}

/// One line read by [`Lines`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The whole line, without its `\n` (nor a `\r` before it).
    Whole(&'a [u8]),
    /// A line over the limit: its first bytes and its full length (without the `\n`).
    TooLong {
        /// The first [`RAW_MAX`] bytes (or fewer).
        prefix: &'a [u8],
        /// Bytes in the line.
        len: u64,
    },
}

/// Lines of a reader, each at most `max` bytes held in memory.
#[derive(Debug)]
pub struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    line_no: u64,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `inner`, longer than `max` bytes returned as [`Line::TooLong`].
    pub fn new(inner: R, max: usize) -> Lines<R> {
        Lines {
            inner,
            buf: Vec::new(),
            max,
            line_no: 0,
        }
    }

    /// The next line and its 1-based number, `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let mut len: u64 = 0;
        let mut read_any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !read_any {
                    return Ok(None);
                }
                break;
            }
            read_any = true;
            let nl = memchr::memchr(b'\n', avail);
            let chunk = &avail[..nl.unwrap_or(avail.len())];
            len += chunk.len() as u64;
            let room = self.max.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = chunk.len() + usize::from(nl.is_some());
            self.inner.consume(used);
            if nl.is_some() {
                break;
            }
        }
        self.line_no += 1;
        if len > self.max as u64 {
            self.buf.truncate(RAW_MAX);
            return Ok(Some((
                self.line_no,
                Line::TooLong {
                    prefix: &self.buf,
                    len,
                },
            )));
        }
        let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
        Ok(Some((self.line_no, Line::Whole(line))))
    }
}

/// The quarantined rows of one data file: every one counted by reason, the first
/// [`MAX_STORED_REJECTS`] kept.
#[derive(Debug, Default)]
pub struct Rejects {
    /// The rows kept for `_rejects`.
    pub stored: Vec<RejectRow>,
    /// Every reject, by reason code.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Every reject.
    pub total: u64,
}

impl Rejects {
    /// Counts one reject of `line`; keeps it while under the cap. `raw` is at least the first
    /// [`RAW_MAX`] bytes of the row's text, `raw_len` the text's full length.
    pub fn push(
        &mut self,
        format: &'static str,
        line: u64,
        reason: RowReject,
        raw: &[u8],
        raw_len: u64,
    ) {
        self.total += 1;
        *self.by_reason.entry(reason.code()).or_default() += 1;
        if (self.stored.len() as u64) < MAX_STORED_REJECTS {
            self.stored.push(RejectRow {
                format,
                line,
                reason: reason.code(),
                raw: truncated_raw(raw),
                raw_len,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize) -> Vec<(u64, String, u64)> {
        let mut l = Lines::new(io::BufReader::with_capacity(3, input), max);
        let mut out = Vec::new();
        while let Some((n, line)) = l.next_line().unwrap() {
            out.push(match line {
                Line::Whole(b) => (n, String::from_utf8_lossy(b).into_owned(), b.len() as u64),
                Line::TooLong { prefix, len } => {
                    (n, format!("LONG:{}", String::from_utf8_lossy(prefix)), len)
                }
            });
        }
        out
    }

    #[test]
    fn lines_are_split_and_bounded_across_buffer_refills() {
        let got = all(b"ab\r\n\nabcdefgh\nxyz", 4);
        assert_eq!(
            got,
            vec![
                (1, "ab".into(), 2),
                (2, String::new(), 0),
                (3, "LONG:abcd".into(), 8),
                (4, "xyz".into(), 3),
            ]
        );
        assert!(all(b"", 4).is_empty());
        assert_eq!(all(b"\n", 4), vec![(1, String::new(), 0)]);
    }

    #[test]
    fn raw_is_cut_at_a_character_boundary() {
        let s = "é".repeat(RAW_MAX);
        let raw = truncated_raw(s.as_bytes());
        assert_eq!(raw.len(), RAW_MAX);
        let mut odd = vec![b'a'];
        odd.extend(s.as_bytes());
        let raw = truncated_raw(&odd);
        assert!(
            raw.len() <= RAW_MAX && raw.starts_with('a'),
            "{}",
            raw.len()
        );
        // An invalid byte at the cut becomes U+FFFD without passing the limit.
        let mut bad = vec![b'a'; RAW_MAX - 1];
        bad.push(0xF0);
        assert!(truncated_raw(&bad).len() <= RAW_MAX);
    }

    #[test]
    fn rejects_are_all_counted_and_the_first_kept() {
        let mut r = Rejects::default();
        for i in 0..(MAX_STORED_REJECTS + 5) {
            r.push("inventory-csv", i + 1, RowReject::BadSize, b"x", 1);
        }
        assert_eq!(r.total, MAX_STORED_REJECTS + 5);
        assert_eq!(r.stored.len() as u64, MAX_STORED_REJECTS);
        assert_eq!(r.by_reason["bad_size"], r.total);
        assert_eq!(r.stored.last().map(|x| x.line), Some(MAX_STORED_REJECTS));
    }
}
