//! `status` → `DescribeChannelParticipants`: is the encoder's user in the channel?
//!
//! The vendor recommends exactly this poll: an address has no state of its own; the push is
//! live while `UserId` is among the channel's online users. The answer is paged, so the plugin
//! reads pages until it finds the user or runs out ([`MAX_PAGES`]). A user not online is
//! `starting` while the issued address is still valid (the encoder may not have started
//! pushing yet, and the address is reusable until it expires) and `not-found` once it has
//! expired; the time is the call's (`context::now_ms`), passed in. Pure, but for the paging
//! loop in `lib.rs`.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::{IngestState, IngestStatus, ProviderError};
use serde_json::Value;

use crate::api::Reply;
use crate::session::SessionRef;
use crate::sign::{Param, Value as ParamValue};

/// Users per page. The vendor documents the default (10) but no maximum, so the plugin asks
/// for exactly the default rather than guess a larger value the vendor might refuse.
pub const PAGE_SIZE: u32 = 10;
/// Most pages read for one `status` (the host allows 16 vendor requests per call).
pub const MAX_PAGES: u32 = 15;

/// The query parameters for page `page` (from 1).
pub fn params(app_id: &str, session: &SessionRef, page: u32) -> Vec<Param> {
    let t = |s: &str| ParamValue::Text(s.to_string());
    vec![
        ("AppId".to_string(), t(app_id)),
        ("ChannelId".to_string(), t(&session.channel_id)),
        ("PageNum".to_string(), t(&page.to_string())),
        ("PageSize".to_string(), t(&PAGE_SIZE.to_string())),
    ]
}

/// What one page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Whether the user is on this page.
    pub found: bool,
    /// `TotalPage` (0 when the channel is empty).
    pub total_pages: u64,
    /// `TotalNum`.
    pub total_users: u64,
}

/// Reads one page. `UserList` entries are user ids; the vendor's own example shows ids joined
/// by commas in one entry, so each entry is also split at `,`.
pub fn read_page(reply: &Reply, user_id: &str) -> Result<Page, ProviderError> {
    let list = match reply.body.get("UserList") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(reply.attach(bad_vendor_response(
                "DescribeChannelParticipants returned a `UserList` that is not an array",
            )));
        }
    };
    let mut found = false;
    for item in &list {
        let Some(entry) = item.as_str() else {
            return Err(reply.attach(bad_vendor_response(
                "DescribeChannelParticipants returned a `UserList` entry that is not a string",
            )));
        };
        if entry == user_id || entry.split(',').any(|id| id.trim() == user_id) {
            found = true;
        }
    }
    let number = |key: &str| match reply.body.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| {
                reply.attach(bad_vendor_response(format!(
                    "DescribeChannelParticipants returned a `{key}` that is not a count"
                )))
            }),
    };
    Ok(Page {
        found,
        total_pages: number("TotalPage")?,
        total_users: number("TotalNum")?,
    })
}

/// Reads pages through `fetch` (given the page number, from 1) until the user is found, the
/// pages run out, or [`MAX_PAGES`] were read. `now_secs` is the call's time (Unix seconds).
/// The status carries the last page's request id.
pub fn scan(
    session: &SessionRef,
    now_secs: u64,
    mut fetch: impl FnMut(u32) -> Result<Reply, ProviderError>,
) -> Result<IngestStatus, ProviderError> {
    let mut number = 1;
    loop {
        let reply = fetch(number)?;
        let page = read_page(&reply, &session.user_id)?;
        let request_id = reply.request_id;
        if page.found {
            return Ok(running(session, &page, request_id));
        }
        if u64::from(number) >= page.total_pages {
            return Ok(absent(session, &page, now_secs, request_id));
        }
        if number >= MAX_PAGES {
            return Ok(too_many(session, &page, request_id));
        }
        number += 1;
    }
}

/// The status once the user was found on a page.
pub fn running(session: &SessionRef, page: &Page, request_id: Option<String>) -> IngestStatus {
    IngestStatus {
        state: IngestState::Running,
        vendor_state: None,
        detail: Some(format!(
            "user `{}` is online in channel `{}` ({} online): the encoder is pushing",
            session.user_id, session.channel_id, page.total_users
        )),
        vendor_request_id: request_id,
    }
}

/// The status once every page was read without finding the user: `starting` while the
/// address is valid (`now_secs` before the session's `expires_at`), else `not-found`. A
/// reference from an earlier version carries no expiry: `not-found`, as that version said.
pub fn absent(
    session: &SessionRef,
    page: &Page,
    now_secs: u64,
    request_id: Option<String>,
) -> IngestStatus {
    let (state, why) = match session.expires_at {
        Some(at) if now_secs < at => (
            IngestState::Starting,
            format!(
                "the encoder is not pushing yet (or paused); the address stays valid until \
                 {at} (Unix seconds)"
            ),
        ),
        Some(at) => (
            IngestState::NotFound,
            format!("the address expired at {at} (Unix seconds)"),
        ),
        None => (
            IngestState::NotFound,
            "the encoder is not pushing (not started yet, stopped, or the address expired; \
             this session reference does not say when the address expires)"
                .to_string(),
        ),
    };
    IngestStatus {
        state,
        vendor_state: None,
        detail: Some(format!(
            "user `{}` is not online in channel `{}` ({} online): {why}",
            session.user_id, session.channel_id, page.total_users
        )),
        vendor_request_id: request_id,
    }
}

/// The status when the channel has more pages than the plugin reads.
pub fn too_many(session: &SessionRef, page: &Page, request_id: Option<String>) -> IngestStatus {
    IngestStatus {
        state: IngestState::Unknown,
        vendor_state: None,
        detail: Some(format!(
            "user `{}` is not among the first {} online users of channel `{}` ({} online); \
             the plugin reads at most {MAX_PAGES} pages",
            session.user_id,
            u64::from(MAX_PAGES) * u64::from(PAGE_SIZE),
            session.channel_id,
            page.total_users
        )),
        vendor_request_id: request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply("DescribeChannelParticipants", 200, None, json.as_bytes())
            .expect("envelope")
    }

    /// When the test session's address expires.
    const EXPIRES: u64 = 1_700_036_000;

    fn session() -> SessionRef {
        SessionRef {
            channel_id: "room-42".into(),
            user_id: "obs".into(),
            expires_at: Some(EXPIRES),
        }
    }

    #[test]
    fn page_parameters() {
        let t = |s: &str| ParamValue::Text(s.into());
        assert_eq!(
            params("app", &session(), 3),
            vec![
                ("AppId".into(), t("app")),
                ("ChannelId".into(), t("room-42")),
                ("PageNum".into(), t("3")),
                ("PageSize".into(), t("10")),
            ]
        );
    }

    #[test]
    fn pages() {
        let p = read_page(
            &reply(r#"{"RequestId":"r","Times":1557909133,"TotalNum":3,"TotalPage":1,"UserList":["a","obs","b"]}"#),
            "obs",
        )
        .expect("page");
        assert_eq!(
            p,
            Page {
                found: true,
                total_pages: 1,
                total_users: 3
            }
        );
        // The vendor's own example: one comma-joined entry.
        let p = read_page(
            &reply(r#"{"TotalNum":3,"TotalPage":1,"UserList":["27f9,obs,df82"]}"#),
            "obs",
        )
        .expect("page");
        assert!(p.found);
        let p = read_page(
            &reply(r#"{"TotalNum":"2","TotalPage":"1","UserList":["obs2","xobs"]}"#),
            "obs",
        )
        .expect("page");
        assert!(!p.found);
        assert_eq!(p.total_users, 2);
        let p = read_page(&reply(r#"{"RequestId":"r"}"#), "obs").expect("empty channel");
        assert_eq!(
            p,
            Page {
                found: false,
                total_pages: 0,
                total_users: 0
            }
        );
        for bad in [
            r#"{"RequestId":"r","UserList":"obs"}"#,
            r#"{"RequestId":"r","UserList":[1]}"#,
            r#"{"RequestId":"r","UserList":[],"TotalPage":-1}"#,
            r#"{"RequestId":"r","UserList":[],"TotalNum":"many"}"#,
        ] {
            let e = read_page(&reply(bad), "obs").expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
    }

    /// A channel of `users` online users, served `PAGE_SIZE` per page like the vendor.
    fn channel(users: &[String], page: u32) -> Reply {
        let size = PAGE_SIZE as usize;
        let start = (page as usize - 1) * size;
        let list: Vec<&String> = users.iter().skip(start).take(size).collect();
        let total_pages = users.len().div_ceil(size);
        reply(
            &serde_json::json!({
                "RequestId": format!("r{page}"),
                "TotalNum": users.len(),
                "TotalPage": total_pages,
                "UserList": list,
            })
            .to_string(),
        )
    }

    #[test]
    fn scanning_pages() {
        let users: Vec<String> = (0..35).map(|i| format!("u{i}")).collect();
        let mut asked = Vec::new();
        let mut s = session();
        s.user_id = "u27".into();
        let st = scan(&s, EXPIRES + 1, |n| {
            asked.push(n);
            Ok(channel(&users, n))
        })
        .expect("status");
        assert_eq!(
            st.state,
            IngestState::Running,
            "online counts, whatever the time"
        );
        assert_eq!(st.vendor_request_id.as_deref(), Some("r3"));
        assert_eq!(asked, [1, 2, 3]);

        let mut asked = Vec::new();
        s.user_id = "absent".into();
        let st = scan(&s, EXPIRES, |n| {
            asked.push(n);
            Ok(channel(&users, n))
        })
        .expect("status");
        assert_eq!(st.state, IngestState::NotFound);
        assert_eq!(asked, [1, 2, 3, 4]);

        // An empty channel: one request.
        let mut asked = 0;
        let st = scan(&s, EXPIRES, |n| {
            asked += 1;
            Ok(channel(&[], n))
        })
        .expect("status");
        assert_eq!((st.state, asked), (IngestState::NotFound, 1));
        // Before the expiry, the same empty channel means the encoder has not started yet.
        let st = scan(&s, EXPIRES - 1, |n| Ok(channel(&[], n))).expect("status");
        assert_eq!(st.state, IngestState::Starting);

        // A huge channel: at most MAX_PAGES requests, then `unknown`.
        let crowd: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        let mut asked = 0;
        let st = scan(&s, 0, |n| {
            asked += 1;
            Ok(channel(&crowd, n))
        })
        .expect("status");
        assert_eq!((st.state, asked), (IngestState::Unknown, MAX_PAGES));

        // An error on any page is the answer.
        let e = scan(&s, 0, |n| {
            if n == 2 {
                Err(ingest_plugin_sdk::error::new(
                    ErrorKind::Unavailable,
                    "down",
                ))
            } else {
                Ok(channel(&users, n))
            }
        })
        .expect_err("error");
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }

    #[test]
    fn statuses() {
        let page = Page {
            found: true,
            total_pages: 1,
            total_users: 2,
        };
        let s = running(&session(), &page, Some("r".into()));
        assert_eq!(s.state, IngestState::Running);
        assert_eq!(s.vendor_request_id.as_deref(), Some("r"));
        assert!(s.detail.as_deref().is_some_and(|d| d.contains("`obs`")));
        // Not online: starting until the address expires, then not-found.
        let before = absent(&session(), &page, EXPIRES - 1, Some("r".into()));
        assert_eq!(before.state, IngestState::Starting);
        assert_eq!(before.vendor_request_id.as_deref(), Some("r"));
        assert!(
            before
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("1700036000")),
            "{before:?}"
        );
        for now in [EXPIRES, EXPIRES + 1, u64::MAX] {
            assert_eq!(
                absent(&session(), &page, now, None).state,
                IngestState::NotFound,
                "{now}"
            );
        }
        // A legacy reference (no expiry): not-found, as before.
        let mut legacy = session();
        legacy.expires_at = None;
        assert_eq!(absent(&legacy, &page, 0, None).state, IngestState::NotFound);
        let s = too_many(&session(), &page, None);
        assert_eq!(s.state, IngestState::Unknown);
        assert!(s.detail.as_deref().is_some_and(|d| d.contains("150")));
    }
}
