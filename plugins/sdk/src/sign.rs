//! The secret-free pieces of vendor signature schemes: percent-encoding for canonical query
//! strings, and comparing a presented signature with the expected one in constant time.
//!
//! ```
//! use ingest_plugin_sdk::sign;
//!
//! assert_eq!(sign::percent_encode("a b*~"), "a%20b%2A~");
//! assert!(sign::constant_time_eq(b"abc", b"abc"));
//! assert!(sign::same_hex_signature("ABCDEF", "abcdef"));
//! assert!(!sign::same_hex_signature("abcdef", "abcde0"));
//! ```

/// RFC 3986 percent-encoding of UTF-8 bytes: `A-Z a-z 0-9 - _ . ~` stay, every other byte is
/// `%XY` in uppercase hex (a space is `%20`, never `+`; `*` is `%2A`).
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Whether `a` and `b` are equal, in time that depends only on their lengths (not on where
/// they differ): for comparing a callback's signature with the expected one.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether two hex signatures are equal, ignoring ASCII case, in constant time (as
/// [`constant_time_eq`]).
pub fn same_hex_signature(expected: &str, given: &str) -> bool {
    let a = expected.as_bytes();
    let b = given.as_bytes();
    a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_follows_rfc_3986() {
        assert_eq!(percent_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("+/=:&"), "%2B%2F%3D%3A%26");
        assert_eq!(percent_encode("%7E"), "%257E");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("中"), "%E4%B8%AD");
        assert_eq!(percent_encode(""), "");
    }

    #[test]
    fn comparisons() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b"A"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(same_hex_signature("0aF9", "0Af9"));
        assert!(!same_hex_signature("0af9", "0af8"));
        assert!(!same_hex_signature("0af9", "0af90"));
    }
}
