//! SMS length: the encoding a text needs and how many segments it costs.
//! GSM-7 carries 160 septets in one segment or 153 per part when split, its
//! extension characters taking two; anything outside GSM-7 switches the
//! whole text to UCS-2: 70 UTF-16 units alone, 67 per part, a character
//! beyond the Basic Multilingual Plane taking two. A two-unit character is
//! never split across parts.

use serde::Serialize;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[]~|€\u{0c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SmsLength {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Parts needed to carry characters of the given widths, none split.
fn parts(widths: &[usize], single: usize, per_part: usize) -> usize {
    let total: usize = widths.iter().sum();
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for &width in widths {
        if used + width > per_part {
            count += 1;
            used = 0;
        }
        used += width;
    }
    count
}

pub fn sms_length(text: &str) -> SmsLength {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_units).collect();
    match gsm {
        Some(widths) => {
            SmsLength { encoding: SmsEncoding::Gsm7, units: widths.iter().sum(), segments: parts(&widths, 160, 153) }
        }
        None => {
            let widths: Vec<usize> = text.chars().map(char::len_utf16).collect();
            SmsLength { encoding: SmsEncoding::Ucs2, units: widths.iter().sum(), segments: parts(&widths, 70, 67) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm7_fits_160_in_one_segment_and_153_per_part() {
        assert_eq!(sms_length(&"a".repeat(160)), SmsLength { encoding: SmsEncoding::Gsm7, units: 160, segments: 1 });
        assert_eq!(sms_length(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_length(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        let text = format!("{}€", "a".repeat(158));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Gsm7, units: 160, segments: 1 });
        assert_eq!(sms_length(&format!("{}{{", "a".repeat(159))).segments, 2);
    }

    #[test]
    fn an_escape_pair_is_never_split_across_parts() {
        // 152 septets then a two-septet character: it cannot straddle 153.
        let text = format!("{}[{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(sms_length(&text).units, 164);
        assert_eq!(sms_length(&text).segments, 2);
        let text = format!("{}[{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(sms_length(&text).segments, 3, "306 septets but the pair starts part two");
    }

    #[test]
    fn one_character_outside_gsm7_switches_everything_to_ucs2() {
        let text = format!("{}ł", "a".repeat(69));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Ucs2, units: 70, segments: 1 });
        assert_eq!(sms_length(&format!("{}ł", "a".repeat(70))).segments, 2);
        assert_eq!(sms_length(&"ł".repeat(134)).segments, 2);
        assert_eq!(sms_length(&"ł".repeat(135)).segments, 3);
    }

    #[test]
    fn characters_beyond_the_bmp_take_two_units() {
        let text = format!("{}😀", "a".repeat(68));
        assert_eq!(sms_length(&text), SmsLength { encoding: SmsEncoding::Ucs2, units: 70, segments: 1 });
        assert_eq!(sms_length(&format!("{}😀", "a".repeat(69))).segments, 2);
    }

    #[test]
    fn accents_in_gsm7_stay_gsm7() {
        assert_eq!(sms_length("Café à Zürich, señor").encoding, SmsEncoding::Gsm7);
        assert_eq!(sms_length("Crème brûlée").encoding, SmsEncoding::Ucs2, "û and ê are not GSM-7");
    }

    proptest! {
        #[test]
        fn segments_are_enough_and_never_wasteful(text in "[a-z€ł😀]{0,400}") {
            let length = sms_length(&text);
            let (single, per_part) = match length.encoding {
                SmsEncoding::Gsm7 => (160, 153),
                SmsEncoding::Ucs2 => (70, 67),
            };
            if length.units == 0 {
                prop_assert_eq!(length.segments, 0);
            } else if length.units <= single {
                prop_assert_eq!(length.segments, 1);
            } else {
                prop_assert!(length.segments * per_part >= length.units);
                // At most one unit is wasted per part boundary.
                prop_assert!(length.segments <= length.units.div_ceil(per_part - 1));
            }
        }
    }
}
