//! TransactionKey: RFC 3261 §17.2.3 / §17.1.3 matching and the RFC 2543
//! fallback.

use super::{bye, invite, parse, response, INVITE};
use crate::sip::transaction::{InviteClientTransaction, TimerConfig, TransactionError, TransactionKey};
use std::time::Instant;

fn with_method(text: &str, method: &str) -> String {
    text.replacen("INVITE sip:", &format!("{method} sip:"), 1).replace("CSeq: 314159 INVITE", &format!("CSeq: 314159 {method}"))
}

#[test]
fn invite_and_its_non_2xx_ack_share_a_key() {
    let inv = TransactionKey::from_request(&invite()).unwrap();
    // The ACK for a non-2xx carries the INVITE's branch (§17.1.1.3).
    let ack = TransactionKey::from_request(&parse(&with_method(INVITE, "ACK"))).unwrap();
    assert_eq!(inv, ack);
    assert_eq!(ack.method(), "INVITE");
    assert!(inv.is_rfc3261());
}

#[test]
fn ack_for_2xx_with_new_branch_matches_nothing() {
    let inv = TransactionKey::from_request(&invite()).unwrap();
    let text = with_method(INVITE, "ACK").replace("z9hG4bKnashds8", "z9hG4bKnew");
    assert_ne!(inv, TransactionKey::from_request(&parse(&text)).unwrap());
}

#[test]
fn cancel_has_its_own_key_and_targets_the_invite() {
    let inv = TransactionKey::from_request(&invite()).unwrap();
    let cancel = parse(&with_method(INVITE, "CANCEL"));
    let own = TransactionKey::from_request(&cancel).unwrap();
    assert_ne!(own, inv);
    assert_eq!(own.method(), "CANCEL");
    assert_eq!(TransactionKey::for_invite_of_cancel(&cancel).unwrap(), inv);
    assert_eq!(TransactionKey::for_invite_of_cancel(&invite()), Err(TransactionError::NotCancel(rsip::Method::Invite)));
}

#[test]
fn sent_by_and_branch_both_count() {
    let inv = TransactionKey::from_request(&invite()).unwrap();
    let other_host = INVITE.replacen("pc33.atlanta.example.com;", "pc34.atlanta.example.com;", 1);
    assert_ne!(inv, TransactionKey::from_request(&parse(&other_host)).unwrap());
    // sent-by is case-insensitive (a host name).
    let upper = INVITE.replacen("pc33.atlanta.example.com;", "PC33.Atlanta.Example.COM;", 1);
    assert_eq!(inv, TransactionKey::from_request(&parse(&upper)).unwrap());
    // Different methods, same branch: different transactions.
    let bye_same_branch = parse(&with_method(INVITE, "BYE"));
    assert_ne!(inv, TransactionKey::from_request(&bye_same_branch).unwrap());
}

#[test]
fn response_keys_match_the_client_transaction() {
    let inv = invite();
    let key = TransactionKey::from_request(&inv).unwrap();
    for code in [100, 180, 200, 486] {
        let r = response(&inv, code, Some("x1"));
        assert_eq!(TransactionKey::from_response(&r).unwrap(), key, "{code}");
    }
    let b = bye();
    let r = response(&b, 200, None);
    assert_eq!(TransactionKey::from_response(&r).unwrap(), TransactionKey::from_request(&b).unwrap());
    assert_ne!(TransactionKey::from_response(&r).unwrap(), key);
}

#[test]
fn ack_built_by_the_client_transaction_matches_the_server_key() {
    let inv = invite();
    let mut c = InviteClientTransaction::new(inv.clone(), false, TimerConfig::default(), Instant::now());
    let _ = c.poll_transmit();
    c.handle_response(response(&inv, 486, Some("t9")), Instant::now());
    let ack = c.poll_transmit().unwrap();
    assert_eq!(TransactionKey::from_request(&ack), TransactionKey::from_request(&inv));
}

#[test]
fn rfc2543_fallback_without_magic_cookie() {
    let old = INVITE.replace("branch=z9hG4bKnashds8", "branch=1234");
    let key = TransactionKey::from_request(&parse(&old)).unwrap();
    assert!(!key.is_rfc3261());
    assert_eq!(key.method(), "INVITE");
    // No branch at all: same fallback.
    let none = INVITE.replace(";branch=z9hG4bKnashds8", "");
    let k2 = TransactionKey::from_request(&parse(&none)).unwrap();
    assert!(!k2.is_rfc3261());
    // Retransmission → same key; ACK and CANCEL map to the INVITE.
    assert_eq!(k2, TransactionKey::from_request(&parse(&none)).unwrap());
    assert_eq!(k2, TransactionKey::from_request(&parse(&with_method(&none, "ACK"))).unwrap());
    let cancel = parse(&with_method(&none, "CANCEL"));
    assert_ne!(k2, TransactionKey::from_request(&cancel).unwrap());
    assert_eq!(k2, TransactionKey::for_invite_of_cancel(&cancel).unwrap());
    // A new CSeq is a new transaction.
    let next = none.replace("CSeq: 314159", "CSeq: 314160");
    assert_ne!(k2, TransactionKey::from_request(&parse(&next)).unwrap());
}

#[test]
fn missing_or_garbled_headers_are_errors_not_panics() {
    let mut no_via = invite();
    no_via.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    assert_eq!(TransactionKey::from_request(&no_via), Err(TransactionError::MissingVia));

    let bad_via = INVITE.replacen("Via: SIP/2.0/UDP pc33.atlanta.example.com;", "Via: junk;", 1);
    assert!(matches!(TransactionKey::from_request(&parse(&bad_via)), Err(TransactionError::MalformedVia(_))));

    let old_no_callid: String =
        INVITE.replace(";branch=z9hG4bKnashds8", "").replace("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "");
    assert_eq!(TransactionKey::from_request(&parse(&old_no_callid)), Err(TransactionError::MissingCallId));

    let mut r = response(&invite(), 200, None);
    r.headers.retain(|h| !matches!(h, rsip::Header::CSeq(_)));
    assert_eq!(TransactionKey::from_response(&r), Err(TransactionError::MissingCSeq));
    let mut r = response(&invite(), 200, None);
    r.headers.retain(|h| !matches!(h, rsip::Header::Via(_)));
    assert_eq!(TransactionKey::from_response(&r), Err(TransactionError::MissingVia));
    let old = parse(&INVITE.replace("branch=z9hG4bKnashds8", "branch=1234"));
    assert_eq!(TransactionKey::from_response(&response(&old, 200, None)), Err(TransactionError::MissingBranch));
}

#[test]
fn compact_via_header_is_understood() {
    let compact = INVITE.replacen("Via: SIP/2.0/UDP pc33", "v: SIP/2.0/UDP pc33", 1);
    // rsip keeps `v:` as Header::Other, and it is now the first Via.
    let req = parse(&compact);
    let key = TransactionKey::from_request(&req).unwrap();
    assert_eq!(key, TransactionKey::from_request(&invite()).unwrap());
}
