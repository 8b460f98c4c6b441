//! Matching what a plugin did against what a case expects, with placeholders, and explaining
//! every difference in words.
//!
//! A *template* is text in which these placeholders stand for what legitimately varies:
//!
//! | placeholder | matches |
//! |---|---|
//! | `{{any}}` | any text, possibly empty |
//! | `{{timestamp}}` | one or more digits (a Unix time in any unit) |
//! | `{{now}}` | exactly the case's `now`, Unix seconds |
//! | `{{now_ms}}` | exactly the case's `now`, Unix milliseconds |
//! | `{{nonce}}` | the case's nonce, or a later nonce of the call (`{nonce}-2`, `{nonce}-3` …) |
//! | `{{request_id}}` | the call's request id (`call-{nonce}`) |
//! | `{{hex}}` | one or more hex digits (a digest or signature) |
//! | `{{base64}}` | one or more base64 / base64url characters, padding included |
//!
//! Anything else between double braces is literal text; in particular `{{secret:NAME}}` is
//! how the host shows a secret placeholder in recorded requests, so it is matched as written.

use std::fmt::Write as _;

/// What the placeholders of one case stand for.
#[derive(Debug, Clone)]
pub struct Vars {
    /// Unix seconds.
    pub now: u64,
    /// The base nonce.
    pub nonce: String,
    /// The request id.
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(String),
    Any,
    Digits,
    Hex,
    Base64,
    Nonce,
}

fn parse(template: &str, vars: &Vars) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut lit = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = &rest[start + 2..start + 2 + len];
        let seg = match name {
            "any" => Some(Seg::Any),
            "timestamp" => Some(Seg::Digits),
            "hex" => Some(Seg::Hex),
            "base64" => Some(Seg::Base64),
            "nonce" => Some(Seg::Nonce),
            "now" => Some(Seg::Lit(vars.now.to_string())),
            "now_ms" => Some(Seg::Lit(vars.now.saturating_mul(1000).to_string())),
            "request_id" => Some(Seg::Lit(vars.request_id.clone())),
            _ => None,
        };
        lit.push_str(&rest[..start]);
        match seg {
            Some(Seg::Lit(text)) => lit.push_str(&text),
            Some(seg) => {
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit)));
                }
                segs.push(seg);
            }
            None => lit.push_str(&rest[start..start + 4 + len]),
        }
        rest = &rest[start + 4 + len..];
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        segs.push(Seg::Lit(lit));
    }
    segs
}

/// Most backtracking steps one match may take (a pathological template fails, it does not hang).
const MAX_STEPS: usize = 200_000;

fn class_len(seg: &Seg, s: &str, nonce: &str) -> Vec<usize> {
    let run = |ok: fn(u8) -> bool| s.bytes().take_while(|b| ok(*b)).count();
    match seg {
        Seg::Digits => (1..=run(|b| b.is_ascii_digit())).rev().collect(),
        Seg::Hex => (1..=run(|b| b.is_ascii_hexdigit())).rev().collect(),
        Seg::Base64 => (1..=run(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
        }))
            .rev()
            .collect(),
        Seg::Nonce => {
            let Some(after) = s.strip_prefix(nonce) else {
                return Vec::new();
            };
            let mut lens = Vec::new();
            if let Some(tail) = after.strip_prefix('-') {
                let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                lens.extend((1..=digits).rev().map(|d| nonce.len() + 1 + d));
            }
            lens.push(nonce.len());
            lens
        }
        Seg::Any => (0..=s.len()).filter(|i| s.is_char_boundary(*i)).collect(),
        Seg::Lit(_) => Vec::new(),
    }
}

fn matches_segs(segs: &[Seg], s: &str, nonce: &str, steps: &mut usize) -> bool {
    *steps += 1;
    if *steps > MAX_STEPS {
        return false;
    }
    let Some((first, rest)) = segs.split_first() else {
        return s.is_empty();
    };
    match first {
        Seg::Lit(lit) => s
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| matches_segs(rest, tail, nonce, steps)),
        other => class_len(other, s, nonce).into_iter().any(|n| {
            s.get(n..)
                .is_some_and(|tail| matches_segs(rest, tail, nonce, steps))
        }),
    }
}

/// Whether `actual` matches `template`.
pub fn matches(template: &str, actual: &str, vars: &Vars) -> bool {
    let segs = parse(template, vars);
    matches_segs(&segs, actual, &vars.nonce, &mut 0)
}

/// One difference between a case and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Where: `request 1 › header "authorization"`, `result › $.ok.session_ref` …
    pub place: String,
    /// What the case expects (a template, or a description).
    pub expected: String,
    /// What happened.
    pub actual: String,
}

impl Diff {
    /// A difference at `place`.
    pub fn new(
        place: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Self {
            place: place.into(),
            expected: expected.into(),
            actual: actual.into(),
        }
    }

    /// The difference as indented text: expected and actual on their own lines, or a line
    /// diff when either spans several lines.
    pub fn render(&self) -> String {
        let mut out = format!("  ✗ {}\n", self.place);
        if self.expected.contains('\n') || self.actual.contains('\n') {
            out.push_str(&line_diff(&self.expected, &self.actual));
        } else {
            let _ = writeln!(out, "      expected: {}", self.expected);
            let _ = writeln!(out, "      actual:   {}", self.actual);
        }
        out
    }
}

/// A unified-style line diff (`-` expected only, `+` actual only, ` ` both) by longest common
/// subsequence; lines compare equal when the expected line, as a template, matches.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Plain equality here: templates are compared whole by the caller.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::from("      --- expected\n      +++ actual\n");
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            let _ = writeln!(out, "        {}", a[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "      - {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "      + {}", b[j]);
            j += 1;
        }
    }
    out
}

/// How objects compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every key on both sides must match (request bodies).
    Exact,
    /// Only the keys the expectation lists are compared; `null` also matches a missing key
    /// (expected results).
    Listed,
}

fn short(v: &serde_json::Value) -> String {
    let text = v.to_string();
    if text.len() > 400 {
        let mut cut = 400;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

/// Compares JSON values; strings in `expected` are templates (a template also matches a
/// number or boolean whose JSON text it matches). Differences are pushed with their JSON path.
pub fn compare_json(
    expected: &serde_json::Value,
    actual: &serde_json::Value,
    path: &str,
    place: &str,
    mode: Mode,
    vars: &Vars,
    diffs: &mut Vec<Diff>,
) {
    use serde_json::Value;
    let at = |p: &str| format!("{place} › {p}");
    match (expected, actual) {
        (Value::String(t), Value::String(s)) => {
            if !matches(t, s, vars) {
                diffs.push(Diff::new(at(path), short(expected), short(actual)));
            }
        }
        (Value::String(t), Value::Number(_) | Value::Bool(_)) => {
            if !matches(t, &actual.to_string(), vars) {
                diffs.push(Diff::new(at(path), short(expected), short(actual)));
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let sub = format!("{path}.{key}");
                match a.get(key) {
                    Some(av) => compare_json(ev, av, &sub, place, mode, vars, diffs),
                    None if ev.is_null() && mode == Mode::Listed => {}
                    None => diffs.push(Diff::new(at(&sub), short(ev), "(missing)")),
                }
            }
            if mode == Mode::Exact {
                for (key, av) in a {
                    if !e.contains_key(key) {
                        diffs.push(Diff::new(
                            at(&format!("{path}.{key}")),
                            "(absent)",
                            short(av),
                        ));
                    }
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                diffs.push(Diff::new(
                    at(&format!("{path} (length)")),
                    format!("{} items: {}", e.len(), short(expected)),
                    format!("{} items: {}", a.len(), short(actual)),
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare_json(ev, av, &format!("{path}[{i}]"), place, mode, vars, diffs);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = e == a || matches!((e.as_f64(), a.as_f64()), (Some(x), Some(y)) if x == y);
            if !same {
                diffs.push(Diff::new(at(path), short(expected), short(actual)));
            }
        }
        (e, a) if e == a => {}
        (Value::Null, Value::Null) => {}
        _ => diffs.push(Diff::new(at(path), short(expected), short(actual))),
    }
}

/// Compares a body: a JSON expectation (object or array) against the actual text parsed as
/// JSON, exactly; a string expectation as a text template. `None` is not checked.
pub fn compare_body(
    expected: Option<&serde_json::Value>,
    actual: &str,
    place: &str,
    vars: &Vars,
    diffs: &mut Vec<Diff>,
) {
    use serde_json::Value;
    match expected {
        None => {}
        Some(Value::String(template)) if matches(template, actual, vars) => {}
        Some(Value::String(template)) => {
            diffs.push(Diff::new(
                format!("{place} › body"),
                template.clone(),
                actual,
            ));
        }
        Some(json) => match serde_json::from_str::<Value>(actual) {
            Ok(parsed) => compare_json(
                json,
                &parsed,
                "$",
                &format!("{place} › body"),
                Mode::Exact,
                vars,
                diffs,
            ),
            Err(e) => diffs.push(Diff::new(
                format!("{place} › body (expected JSON)"),
                short(json),
                format!("{actual:?} (not JSON: {e})"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            now: 1_700_000_000,
            nonce: "n0".into(),
            request_id: "call-n0".into(),
        }
    }

    #[test]
    fn templates() {
        let v = vars();
        assert!(matches("abc", "abc", &v));
        assert!(!matches("abc", "abcd", &v));
        assert!(matches("a{{any}}d", "abcd", &v));
        assert!(matches("{{any}}", "", &v));
        assert!(matches("t={{timestamp}}&s={{hex}}", "t=17&s=00ff", &v));
        assert!(!matches("t={{timestamp}}", "t=", &v));
        assert!(!matches("s={{hex}}", "s=xyz", &v));
        assert!(matches(
            "{{now}}/{{now_ms}}",
            "1700000000/1700000000000",
            &v
        ));
        assert!(!matches("{{now}}", "1700000001", &v));
        assert!(matches("{{nonce}}", "n0", &v));
        assert!(matches("{{nonce}}", "n0-2", &v));
        assert!(matches("{{nonce}}-x", "n0-3-x", &v));
        assert!(!matches("{{nonce}}", "n1", &v));
        assert!(matches("{{request_id}}", "call-n0", &v));
        assert!(matches("Basic {{base64}}", "Basic YTpi==", &v));
        // Unknown placeholders, secret labels included, are literal text.
        assert!(matches(
            "Bearer {{secret:key}}",
            "Bearer {{secret:key}}",
            &v
        ));
        assert!(!matches("Bearer {{secret:key}}", "Bearer k", &v));
        assert!(matches("{{unclosed", "{{unclosed", &v));
        // Backtracking across several wildcards.
        assert!(matches("{{any}}b{{any}}b{{any}}", "abababa", &v));
        // Multi-byte text does not split characters.
        assert!(matches("é{{any}}ü", "éxü", &v));
    }

    #[test]
    fn json_listed_and_exact() {
        let v = vars();
        let mut d = Vec::new();
        let expected = serde_json::json!({"ok": {"id": "t-{{any}}", "x": null}});
        let actual = serde_json::json!({"ok": {"id": "t-1", "extra": 1}});
        compare_json(&expected, &actual, "$", "result", Mode::Listed, &v, &mut d);
        assert!(d.is_empty(), "{d:?}");
        compare_json(&expected, &actual, "$", "result", Mode::Exact, &v, &mut d);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].place, "result › $.ok.x");
        assert_eq!(d[1].place, "result › $.ok.extra");

        let mut d = Vec::new();
        compare_json(
            &serde_json::json!({"n": "{{now}}", "a": [1, 2]}),
            &serde_json::json!({"n": 1_700_000_000u64, "a": [1, 3]}),
            "$",
            "body",
            Mode::Exact,
            &v,
            &mut d,
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].place, "body › $.a[1]");
        assert_eq!((d[0].expected.as_str(), d[0].actual.as_str()), ("2", "3"));
    }

    #[test]
    fn bodies_and_rendering() {
        let v = vars();
        let mut d = Vec::new();
        compare_body(
            Some(&serde_json::json!({"a": 1})),
            "not json",
            "request 1",
            &v,
            &mut d,
        );
        assert!(d[0].actual.contains("not JSON"), "{d:?}");
        let mut d = Vec::new();
        compare_body(
            Some(&serde_json::json!("a\nb\nc")),
            "a\nB\nc",
            "request 1",
            &v,
            &mut d,
        );
        let text = d[0].render();
        assert!(text.contains("      - b\n"), "{text}");
        assert!(text.contains("      + B\n"), "{text}");
        assert!(text.contains("        a\n"), "{text}");
        let one = Diff::new("p", "x", "y").render();
        assert_eq!(one, "  ✗ p\n      expected: x\n      actual:   y\n");
    }
}
