//! Property tests of the sealed ingest handles (`ingest_gateway::handle`): whatever the
//! provider, session reference and tenant, a handle opens to exactly what was sealed; any
//! altered, truncated or extended handle, and any handle under another key, is refused.

use ingest_gateway::internals::{HandleData, HandleKey, MAX_HANDLE_LEN};
use proptest::prelude::*;

fn key() -> HandleKey {
    HandleKey::new(b"property-test-handle-key-0123456".to_vec())
}

/// Fields as the gateway produces them: provider and tenant ids as config allows them
/// (letters, digits, `-`, `_`), a session reference of any text up to the contract's 2048 bytes.
fn data() -> impl Strategy<Value = HandleData> {
    (
        "[A-Za-z0-9_-]{1,64}",
        prop_oneof![
            ".{0,200}",
            "[ -~]{0,2048}",
            proptest::collection::vec(any::<char>(), 0..600)
                .prop_map(|c| c.into_iter().collect::<String>()),
        ],
        proptest::option::of("[A-Za-z0-9_-]{1,64}"),
    )
        .prop_map(|(provider, session_ref, tenant)| HandleData {
            provider,
            session_ref,
            tenant,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Round trip: every handle that fits the length limit opens to what was sealed; one that
    /// does not is refused, never misread.
    #[test]
    fn sealed_handles_open_to_what_was_sealed(data in data()) {
        let k = key();
        let sealed = k.seal(&data);
        if sealed.len() <= MAX_HANDLE_LEN {
            prop_assert_eq!(k.open(&sealed), Some(data));
        } else {
            prop_assert_eq!(k.open(&sealed), None);
        }
    }

    /// Tamper with any byte (to any other printable character): refused.
    #[test]
    fn any_altered_byte_is_refused(data in data(), at in any::<prop::sample::Index>(), to in 0x20u8..0x7f) {
        let k = key();
        let sealed = k.seal(&data);
        prop_assume!(sealed.len() <= MAX_HANDLE_LEN);
        let mut bytes = sealed.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let altered = String::from_utf8(bytes).expect("ASCII");
        prop_assert_eq!(k.open(&altered), None);
    }

    /// Cut short or extended: refused.
    #[test]
    fn truncated_or_extended_handles_are_refused(data in data(), cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9_.-]{1,8}") {
        let k = key();
        let sealed = k.seal(&data);
        prop_assume!(sealed.len() <= MAX_HANDLE_LEN);
        let n = cut.index(sealed.len());
        prop_assert_eq!(k.open(&sealed[..n]), None);
        prop_assert_eq!(k.open(&format!("{sealed}{extra}")), None);
    }

    /// Another key never opens a handle.
    #[test]
    fn another_key_refuses(data in data(), other in proptest::collection::vec(any::<u8>(), 16..64)) {
        prop_assume!(other != b"property-test-handle-key-0123456".to_vec());
        let sealed = key().seal(&data);
        prop_assert_eq!(HandleKey::new(other).open(&sealed), None);
    }

    /// Arbitrary text (not a handle) never opens and never panics.
    #[test]
    fn arbitrary_text_is_refused(text in ".{0,300}") {
        prop_assert_eq!(key().open(&text), None);
    }
}

/// What the gateway itself guarantees for the session references its plugins may return
/// (`runtime::MAX_SESSION_REF_BYTES`): every one of up to 2048 bytes of text that needs no
/// JSON escaping round-trips, with the longest provider and tenant ids.
#[test]
fn a_maximal_plain_session_reference_fits_a_handle() {
    let data = HandleData {
        provider: "p".repeat(64),
        session_ref: "€".repeat(682) + "xx",
        tenant: Some("t".repeat(64)),
    };
    assert_eq!(data.session_ref.len(), 2048);
    let k = key();
    let sealed = k.seal(&data);
    assert!(sealed.len() <= MAX_HANDLE_LEN, "{}", sealed.len());
    assert_eq!(k.open(&sealed), Some(data));
}
