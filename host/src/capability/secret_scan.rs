//! Finding secret values in text that came from a vendor or a plugin, in every form a value
//! takes when it is echoed without being transformed: verbatim, or under **any** valid
//! percent-encoding — RFC 3986 lets any byte be written `%XX`, with hex digits in either case,
//! some bytes encoded and others not; HTML forms (`application/x-www-form-urlencoded`) also
//! write a space as `+`. Wherever a value is found, the whole byte range that spells it is
//! replaced.
//!
//! The search does not enumerate forms (a value of n bytes has more than 2ⁿ of them). Text
//! with no `%` (and no `+` where the value holds a space) can only hold a value verbatim: a
//! plain `memmem` search, the common case for vendor answers. Otherwise the text's escapes are
//! decoded once, and each value is looked for in the decoded text with `memmem` — all but its
//! first two bytes: an escape that starts just before a spelling (text a plugin controls may
//! end in `%4`) can swallow them, but never more — and every find is checked against the text
//! itself where the spelling can start, reading it one unit at a time (an escape `%XX` that
//! decodes to the next byte of the value, or the byte itself), so a spelling is found whatever
//! the mix. That keeps the cost linear in the text for any number of escapes in it. Values
//! holding a `%`, and header names (compared without case), are read unit by unit at every
//! place a spelling can start.
//!
//! [`SecretSet`]: the values of every provider's secrets (the gateway's, built with the
//! providers at start and at each config reload). Every call checks what passes through it —
//! vendor answers before its plugin reads them, its result, errors and log lines — against all
//! of them, whichever provider the call is for: two providers may share a vendor host, and
//! what one provider's vendor echoes may reach another's plugin.

use zeroize::Zeroizing;

/// What a secret value found in text becomes where no placeholder token stands for it.
pub(crate) const REDACTED: &[u8] = b"[redacted]";

/// The values of every provider's secrets, for checking text that must not carry one. Values
/// shorter than [`MIN_SCRUB_BYTES`] are left out (they would match innocent text). The bytes
/// are wiped when the set is dropped; `Debug` shows only how many there are.
#[derive(Default, Clone)]
pub struct SecretSet {
    values: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretSet({} values)", self.values.len())
    }
}

impl SecretSet {
    /// A set of these values (duplicates and values too short to look for left out).
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut kept: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for value in values {
            if value.len() >= MIN_SCRUB_BYTES && !kept.iter().any(|k| k.as_slice() == value) {
                kept.push(Zeroizing::new(value.to_vec()));
            }
        }
        Self { values: kept }
    }

    /// The values, each at least [`MIN_SCRUB_BYTES`] long.
    pub(crate) fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.values.iter().map(|v| v.as_slice())
    }

    /// Whether `text` holds one of the values, in any form.
    pub(crate) fn found_in(&self, text: &[u8]) -> bool {
        let needles = Needles::redacting(self);
        !needles.find(text, Case::Exact).is_empty()
    }

    /// `text` with every value, in whatever form, replaced by `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        match Needles::redacting(self).replace(text.as_bytes(), Case::Exact) {
            None => text.to_string(),
            // A value that is not UTF-8, or ends inside a character, may leave a broken
            // character behind: it is shown as U+FFFD.
            Some(bytes) => String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }
}

/// How text is compared with the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Byte for byte (after decoding escapes).
    Exact,
    /// ASCII case ignored: for HTTP header names, which the HTTP stack lowercases, so a value
    /// echoed in a name reaches the plugin lowercased.
    Folded,
}

/// Values to look for, each with what replaces it. Where finds overlap, the earlier value in
/// the list wins (placeholder values, which become their tokens, go first).
#[derive(Default)]
pub(crate) struct Needles<'a> {
    values: Vec<&'a [u8]>,
    replacements: Vec<&'a [u8]>,
}

/// A value found: `text[start..end]` spells `values[needle]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) needle: usize,
}

impl<'a> Needles<'a> {
    /// Every value of `set`, each replaced by [`REDACTED`].
    pub(crate) fn redacting(set: &'a SecretSet) -> Self {
        let mut needles = Self::default();
        for value in set.values() {
            needles.push(value, REDACTED);
        }
        needles
    }

    /// Adds `value` (ignored when empty), replaced by `with` where found.
    pub(crate) fn push(&mut self, value: &'a [u8], with: &'a [u8]) {
        if !value.is_empty() {
            self.values.push(value);
            self.replacements.push(with);
        }
    }

    /// Whether there is nothing to look for.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every place in `text` that spells one of the values, verbatim or percent-encoded.
    /// Finds of one value do not overlap; finds of different values may.
    pub(crate) fn find(&self, text: &[u8], case: Case) -> Vec<Found> {
        let mut found = Vec::new();
        if text.is_empty() || self.values.is_empty() {
            return found;
        }
        let percent = memchr::memchr(b'%', text).is_some();
        let plus = memchr::memchr(b'+', text).is_some();
        let mut decoded: Option<Decoded> = None;
        for (i, value) in self.values.iter().enumerate() {
            let spaced = memchr::memchr(b' ', value).is_some();
            // Only `%XX` and `+` (for a space) spell a byte otherwise than as itself.
            let encoded = percent || (plus && spaced);
            if case == Case::Folded {
                find_by_units(text, value, i, case, &mut found);
            } else if !encoded {
                find_verbatim(text, value, i, &mut found);
            } else if value.len() < 3 || memchr::memchr(b'%', value).is_some() {
                // A `%` of the value, written as is, reads as the start of an escape to a
                // decoder and to the unit-wise reading alike when hex digits follow it: the
                // verbatim search covers that spelling.
                find_verbatim(text, value, i, &mut found);
                find_by_units(text, value, i, case, &mut found);
            } else {
                let decoded = decoded.get_or_insert_with(|| Decoded::new(text));
                find_decoded(text, decoded, value, i, &mut found);
            }
        }
        found
    }

    /// `text` with every find replaced (see [`replace_found`]); `None` when there is none.
    pub(crate) fn replace(&self, text: &[u8], case: Case) -> Option<Vec<u8>> {
        let found = self.find(text, case);
        if found.is_empty() {
            return None;
        }
        Some(replace_found(text, found, |i| self.replacements[i]))
    }
}

/// The byte a unit of text stands for, for comparison: a space and `+` are one (a form
/// encodes a space as `+`; treating them alike finds a value also where a `+` of it was
/// decoded as a space, at the cost of matching a value whose `+` reads as a space —
/// harmless for the long random values secrets are); with [`Case::Folded`], ASCII lowercase.
fn canon(b: u8, case: Case) -> u8 {
    let b = if b == b' ' { b'+' } else { b };
    match case {
        Case::Exact => b,
        Case::Folded => b.to_ascii_lowercase(),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte the two hex digits at `text[at..at + 2]` stand for.
fn hex_pair(text: &[u8], at: usize) -> Option<u8> {
    let hi = hex_digit(*text.get(at)?)?;
    let lo = hex_digit(*text.get(at + 1)?)?;
    Some(hi << 4 | lo)
}

/// Where a spelling of `value` starting at `text[at]` ends, if one does: each byte of the value
/// is either an escape `%XX` decoding to it (any hex case) or the byte itself (a space also as
/// `+`).
fn match_at(text: &[u8], at: usize, value: &[u8], case: Case) -> Option<usize> {
    let mut j = at;
    for &v in value {
        let want = canon(v, case);
        let c = *text.get(j)?;
        if c == b'%'
            && let Some(d) = hex_pair(text, j + 1)
            && canon(d, case) == want
        {
            j += 3;
        } else if canon(c, case) == want {
            j += 1;
        } else {
            return None;
        }
    }
    Some(j)
}

/// Texts shorter than this are searched by their candidate first bytes ([`find_short`]):
/// building a `memmem` searcher costs more than reading a vendor answer of a few hundred bytes,
/// and each call searches several texts for every secret value. Each candidate compares at
/// most the value's length, so the cost stays bounded by `SHORT_TEXT × value length`.
const SHORT_TEXT: usize = 4096;

/// Adds to `found` every verbatim occurrence of `value` (needle `i`) in `text`, without
/// overlap, left to right.
fn find_verbatim(text: &[u8], value: &[u8], i: usize, found: &mut Vec<Found>) {
    let at = |start: usize| Found {
        start,
        end: start + value.len(),
        needle: i,
    };
    if text.len() < SHORT_TEXT {
        find_short(text, value, |start| found.push(at(start)));
    } else {
        found.extend(memchr::memmem::find_iter(text, value).map(at));
    }
}

/// Every non-overlapping occurrence of `value` in `text`, left to right, found at the places
/// that hold its first byte.
fn find_short(text: &[u8], value: &[u8], mut hit: impl FnMut(usize)) {
    let Some(&first) = value.first() else {
        return;
    };
    let mut next = 0;
    for start in memchr::memchr_iter(first, text) {
        if start >= next && text[start..].starts_with(value) {
            hit(start);
            next = start + value.len();
        }
    }
}

/// Adds to `found` every spelling of `value` (needle `i`) in `text`, left to right, without
/// overlap, reading the text unit by unit wherever a unit can spell the value's first byte:
/// that byte (in each case, when folded; a space as `+` too), or a `%`.
fn find_by_units(text: &[u8], value: &[u8], i: usize, case: Case, found: &mut Vec<Found>) {
    let Some(&first) = value.first() else {
        return;
    };
    let first = canon(first, case);
    let other = if first == b'+' {
        b' '
    } else if case == Case::Folded {
        first.to_ascii_uppercase()
    } else {
        first
    };
    let mut next = 0;
    for at in memchr::memchr3_iter(b'%', first, other, text) {
        if at < next {
            continue;
        }
        if let Some(end) = match_at(text, at, value, case) {
            found.push(Found {
                start: at,
                end,
                needle: i,
            });
            next = end;
        }
    }
}

/// A text with its escapes decoded (read left to right, as a decoder would), for looking up
/// values with `memmem`. The decoded bytes are wiped when dropped (they may spell a secret).
struct Decoded {
    /// The text with every escape `%XX` decoded and every byte put through [`canon`].
    bytes: Zeroizing<Vec<u8>>,
    /// The indices in `bytes` of the bytes an escape stood for, ascending.
    escapes: Vec<usize>,
}

impl Decoded {
    fn new(text: &[u8]) -> Self {
        let mut bytes = Zeroizing::new(Vec::with_capacity(text.len()));
        let mut escapes = Vec::new();
        let mut j = 0;
        while j < text.len() {
            let run = memchr::memchr(b'%', &text[j..]).map_or(text.len(), |k| j + k);
            bytes.extend(text[j..run].iter().map(|&b| canon(b, Case::Exact)));
            j = run;
            if j == text.len() {
                break;
            }
            match hex_pair(text, j + 1) {
                Some(d) => {
                    escapes.push(bytes.len());
                    bytes.push(canon(d, Case::Exact));
                    j += 3;
                }
                None => {
                    bytes.push(b'%');
                    j += 1;
                }
            }
        }
        Self { bytes, escapes }
    }

    /// Where decoded byte `d` starts in the text.
    fn raw(&self, d: usize) -> usize {
        d + 2 * self.escapes.partition_point(|&e| e < d)
    }
}

/// Adds to `found` every spelling of `value` (needle `i`, at least 3 bytes, no `%`) in `text`:
/// the value's bytes from the third on are looked up in the decoded text (the decoding is
/// aligned with any spelling from its third unit on: only a literal hex digit can be swallowed
/// by an escape starting before it, and then decoding resumes at a unit's start), and the
/// whole spelling is checked where its first two units (1 or 3 bytes each) can start.
fn find_decoded(text: &[u8], decoded: &Decoded, value: &[u8], i: usize, found: &mut Vec<Found>) {
    let rest = Zeroizing::new(
        value[2..]
            .iter()
            .map(|&b| canon(b, Case::Exact))
            .collect::<Vec<u8>>(),
    );
    let finder = memchr::memmem::Finder::new(rest.as_slice());
    let mut from = 0;
    let mut next = 0;
    // Overlapping finds of the rest are each checked: one that spells no value must not hide
    // the next.
    while let Some(k) = finder.find(&decoded.bytes[from..]) {
        let d = from + k;
        from = d + 1;
        let unit_3 = decoded.raw(d);
        // The earliest start first: the whole spelling (an escape of its first byte rather
        // than the hex digit it ends in).
        let spelled = [6, 4, 2].into_iter().find_map(|back| {
            let start = unit_3.checked_sub(back).filter(|s| *s >= next)?;
            match_at(text, start, value, Case::Exact).map(|end| (start, end))
        });
        if let Some((start, end)) = spelled {
            found.push(Found {
                start,
                end,
                needle: i,
            });
            next = end;
        }
    }
}

/// `text` with each find replaced by `replacement(needle)`. Overlapping finds (of different
/// values) are replaced as one span: by the replacement of a find covering the whole span
/// (the first such value), or else by [`REDACTED`] — never leaving part of a value behind.
pub(crate) fn replace_found<'r>(
    text: &[u8],
    mut found: Vec<Found>,
    replacement: impl Fn(usize) -> &'r [u8],
) -> Vec<u8> {
    found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.needle));
    let mut out = Vec::with_capacity(text.len());
    let mut copied = 0;
    let mut k = 0;
    while k < found.len() {
        let start = found[k].start;
        let mut end = found[k].end;
        let mut j = k + 1;
        while j < found.len() && found[j].start < end {
            end = end.max(found[j].end);
            j += 1;
        }
        let with = found[k..j]
            .iter()
            .filter(|f| f.start == start && f.end == end)
            .map(|f| f.needle)
            .min()
            .map_or(REDACTED, &replacement);
        out.extend_from_slice(&text[copied..start]);
        out.extend_from_slice(with);
        copied = end;
        k = j;
    }
    out.extend_from_slice(&text[copied..]);
    out
}

/// Shortest secret value the host looks for in text (scrubbing, result checks, vendor
/// responses). Shorter values would match innocent text; secrets in scope are long random
/// strings. A secret shorter than this is not protected against echoing.
pub(crate) const MIN_SCRUB_BYTES: usize = 6;

/// Replaces every secret value of `secrets` found in `text`, verbatim or percent-encoded, with
/// `[redacted]`: a last line of defence for text that came from a plugin or a vendor (log
/// lines, error messages). `secrets` is the gateway's set: every provider's values.
pub(crate) fn scrub(secrets: &SecretSet, text: &str) -> String {
    secrets.redact(text)
}

/// Whether `text` holds the value of one of `secrets` (of at least [`MIN_SCRUB_BYTES`]),
/// verbatim or percent-encoded. Used to refuse plugin results that would carry a secret out.
pub(crate) fn contains_secret(secrets: &SecretSet, text: &str) -> bool {
    secrets.found_in(text.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_and_long_texts_find_the_same_verbatim_values() {
        let value = b"abab-secret-abab";
        for filler in [0usize, 10, SHORT_TEXT] {
            let mut text = vec![b'a'; filler];
            text.extend_from_slice(b"ab");
            text.extend_from_slice(value);
            text.extend_from_slice(value);
            text.extend_from_slice(b"abab-secret-aba");
            let mut short = Vec::new();
            find_short(&text, value, |s| short.push(s));
            let memmem: Vec<usize> = memchr::memmem::find_iter(&text, value).collect();
            assert_eq!(short, memmem, "filler {filler}");
            assert_eq!(short.len(), 2, "filler {filler}");
        }
        let mut overlapping = Vec::new();
        find_short(b"aaaaa", b"aa", |s| overlapping.push(s));
        assert_eq!(
            overlapping,
            [0, 2],
            "non-overlapping, as memmem's find_iter"
        );
    }

    use super::*;
    use crate::capability::credentials::SecretStore;

    const SECRET: &str = "AKID sec/ret+Zq=9";

    fn set() -> SecretSet {
        SecretSet::new([SECRET.as_bytes()])
    }

    /// Every byte of `s` as `%XX`, lowercase or uppercase hex.
    fn all_escaped(s: &str, upper: bool) -> String {
        s.bytes()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect()
    }

    #[test]
    fn every_valid_percent_encoding_is_found() {
        let forms = [
            SECRET.to_string(),
            // The host's own form (unreserved bytes kept, uppercase hex).
            "AKID%20sec%2Fret%2BZq%3D9".to_string(),
            // Lowercase hex (RFC 3986: equivalent).
            "AKID%20sec%2fret%2bZq%3d9".to_string(),
            // A form: space as `+`.
            "AKID+sec%2Fret%2BZq%3D9".to_string(),
            // Every byte encoded, either case.
            all_escaped(SECRET, false),
            all_escaped(SECRET, true),
            // Mixed: some bytes encoded, some not, both cases.
            "%41KID sec/r%65t+%5aq=%39".to_string(),
            "A%4bID%20sec%2Fret+Zq%3d9".to_string(),
        ];
        for form in &forms {
            let text = format!("{{\"echo\":\"{form}\",\"n\":1}}");
            assert!(set().found_in(text.as_bytes()), "{form}");
            assert_eq!(
                set().redact(&text),
                "{\"echo\":\"[redacted]\",\"n\":1}",
                "{form}"
            );
        }
    }

    #[test]
    fn what_is_not_the_value_is_left_alone() {
        for text in [
            "AKID sec/ret+Zq=",      // cut short
            "AKID%20sec%2Gret",      // not an escape
            "AKID%2 sec/ret+Zq=9",   // a broken escape inside
            "akid sec/ret+zq=9",     // another case
            "AKID%2520sec/ret+Zq=9", // encoded twice
            "",
        ] {
            assert!(!set().found_in(text.as_bytes()), "{text}");
            assert_eq!(set().redact(text), text);
        }
    }

    /// Text a plugin controls may stand just before an encoded value: a `%` and a hex digit
    /// there must not hide the value (a decoder reading the text from its start would join
    /// them with the value's first byte).
    #[test]
    fn a_value_is_found_whatever_precedes_it() {
        let set = SecretSet::new([b"4bcdef/gh".as_slice()]);
        for text in ["x%4bcdef%2Fgh", "x%%4bcdef%2fgh", "%44bcdef%2Fgh%"] {
            let out = set.redact(text);
            assert!(out.contains("[redacted]"), "{text} -> {out}");
            assert!(!set.found_in(out.as_bytes()), "{text} -> {out}");
        }
    }

    #[test]
    fn a_value_holding_a_percent_sign_is_found_verbatim_and_encoded() {
        let set = SecretSet::new([b"ab%25cd%zz".as_slice()]);
        assert_eq!(set.redact("<ab%25cd%zz>"), "<[redacted]>");
        assert_eq!(set.redact("<ab%2525cd%25zz>"), "<[redacted]>");
        assert_eq!(set.redact("<ab%2525cd%zz>"), "<[redacted]>");
    }

    #[test]
    fn folded_case_finds_a_value_in_a_lowercased_header_name() {
        let set = set();
        let needles = Needles::redacting(&set);
        let name = b"x-akid%20sec%2fret%2bzq%3d9";
        assert_eq!(needles.find(name, Case::Exact), Vec::new());
        assert_eq!(needles.find(name, Case::Folded).len(), 1);
    }

    #[test]
    fn overlapping_finds_are_replaced_whole_and_the_first_value_wins() {
        let mut needles = Needles::default();
        needles.push(b"Bearer abcdef123", b"TOKEN-1");
        needles.push(b"abcdef123", REDACTED);
        needles.push(b"123xyz789", REDACTED);
        let out = needles
            .replace(b"h: Bearer abcdef123; k=abcdef123xyz789.", Case::Exact)
            .expect("found");
        assert_eq!(out, b"h: TOKEN-1; k=[redacted].");
        // The same value twice: the first one's replacement.
        let mut twice = Needles::default();
        twice.push(b"abcdef123", b"TOKEN-2");
        twice.push(b"abcdef123", REDACTED);
        assert_eq!(
            twice.replace(b"=abcdef%31%323", Case::Exact).as_deref(),
            Some(b"=TOKEN-2".as_slice())
        );
        assert_eq!(twice.replace(b"nothing here", Case::Exact), None);
    }

    #[test]
    fn the_set_drops_short_and_duplicate_values_and_hides_them_in_debug() {
        let set = SecretSet::new([b"abc".as_slice(), b"abcdef", b"abcdef", b"ghijkl"]);
        assert_eq!(set.values().count(), 2);
        assert_eq!(format!("{set:?}"), "SecretSet(2 values)");
        let stores = [
            SecretStore::from_values([("k", "provider-a-secret")]),
            SecretStore::from_values([("k", "provider-b-secret"), ("short", "x")]),
        ];
        let all = SecretSet::of_stores(&stores);
        assert!(all.found_in(b"..provider-a-secret.."));
        assert!(all.found_in(b"..provider%2db-secret.."));
        assert_eq!(all.values().count(), 2);
    }

    /// A value percent-encoded in a 1 MiB body full of other escapes, among 30 values: found,
    /// and the search stays linear (escapes decoded once, each value looked up with `memmem`;
    /// a plain body without `%` is searched as is).
    #[test]
    fn a_large_encoded_body_is_searched_quickly() {
        let values: Vec<String> = (0..30)
            .map(|i| format!("value-{i:02}-Zq9w8e7r6t5y/AbCdEf"))
            .collect();
        let many = SecretSet::new(
            values
                .iter()
                .map(|v| v.as_bytes())
                .chain([SECRET.as_bytes()]),
        );
        let mut body = "%7B%22k%22%3A%22v%22%7D&".repeat(44_000);
        body.push_str(&all_escaped(SECRET, false));
        body.push_str(&all_escaped(&values[29], true));
        let started = std::time::Instant::now();
        let found = Needles::redacting(&many).find(body.as_bytes(), Case::Exact);
        assert_eq!(found.len(), 2);
        let plain = "{\"k\":\"v\"},".repeat(100_000);
        assert!(!many.found_in(plain.as_bytes()));
        // Generous: an unoptimized build on a busy machine.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }

    /// The decoded lookup and the unit-wise reading agree on every spelling, wherever it
    /// starts, whatever precedes it.
    #[test]
    fn decoded_lookup_finds_what_unit_reading_finds() {
        let value = b"1bcdef/gh z";
        let spellings = [
            "1bcdef%2Fgh+z",
            "%31bcdef/gh%20z",
            "1%62%63def%2fgh z",
            "1bcdef/gh z",
        ];
        for prefix in ["", "x", "%", "%4", "%%4", "%41", "%2", "a+", "%e"] {
            for spelling in spellings {
                let text = format!("{prefix}{spelling}.");
                let mut by_units = Vec::new();
                find_by_units(text.as_bytes(), value, 0, Case::Exact, &mut by_units);
                let mut looked_up = Vec::new();
                let decoded = Decoded::new(text.as_bytes());
                find_decoded(text.as_bytes(), &decoded, value, 0, &mut looked_up);
                assert_eq!(looked_up, by_units, "{text}");
                assert_eq!(looked_up.len(), 1, "{text}");
                assert_eq!(looked_up[0].end, text.len() - 1, "{text}");
            }
        }
    }

    #[test]
    fn scrub_removes_values_verbatim_or_percent_encoded() {
        let secrets = SecretSet::of_stores([&SecretStore::from_values([("key", "secret/value")])]);
        assert_eq!(
            scrub(&secrets, "x secret/value y secret%2fvalue z"),
            "x [redacted] y [redacted] z"
        );
    }

    #[test]
    fn contains_secret_finds_values_of_the_minimum_length() {
        let store = SecretStore::from_values([("key", "secret-value"), ("short", "abc")]);
        let secrets = SecretSet::of_stores([&store]);
        assert!(contains_secret(&secrets, "x secret-value y"));
        assert!(contains_secret(&secrets, "x secret%2Dvalue y"));
        assert!(!contains_secret(&secrets, "x secret-valu y"));
        // Values shorter than MIN_SCRUB_BYTES are not looked for (they would match anything).
        assert!(!contains_secret(&secrets, "abc"));
    }
}
