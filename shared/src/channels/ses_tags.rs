//! The tags Tidings puts on SES emails, which SES copies into a
//! configuration set's bounce and complaint events (`mail.tags`), so that
//! an event names the account, message or user it is about. Pure: the
//! senders ([`super::ses`]) write them, `delivery-status` reads them.

/// The account an email was sent for.
pub const ACCOUNT_TAG: &str = "tidings_account";
/// The message an email carried.
pub const MESSAGE_TAG: &str = "tidings_message";
/// The user a staff email went to.
pub const USER_TAG: &str = "tidings_user";
/// Starts an escaped byte in a tag value; see [`tag_value`].
const TAG_ESCAPE: char = '_';

/// An id as an SES tag value, which may hold only `A-Z a-z 0-9 _ -`:
/// letters, digits and `-` stay as they are; every other byte (`~` and `:`
/// of ids, `_` itself) becomes `_` and two upper-case hex digits, so
/// `a1~reminder` is `a1_7Ereminder`. [`from_tag_value`] reverses it.
pub fn tag_value(id: &str) -> String {
    let mut value = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            value.push(char::from(byte));
        } else {
            value.push_str(&format!("{TAG_ESCAPE}{byte:02X}"));
        }
    }
    value
}

/// The id a [`tag_value`] was made from; `None` for a value it cannot have
/// made.
pub fn from_tag_value(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == TAG_ESCAPE as u8 {
            let hex = tail.get(..2).filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
            bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else if first.is_ascii_alphanumeric() || first == b'-' {
            bytes.push(first);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_hold_only_what_ses_allows_and_round_trip() {
        for id in ["acct-1", "appt-1~reminder~1440~1796220000", "inv:7.a_b~late~3~20261201", "", "é"] {
            let value = tag_value(id);
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{value}");
            assert_eq!(from_tag_value(&value).as_deref(), Some(id), "{value}");
        }
        assert_eq!(tag_value("a1~reminder"), "a1_7Ereminder");
    }

    #[test]
    fn values_tag_value_cannot_make_are_not_read() {
        for value in ["a~b", "a_7", "a_zz", "a_+F", "a.b", "_C3"] {
            assert_eq!(from_tag_value(value), None, "{value}");
        }
    }
}
