//! Telephone numbers in one form, E.164 (ITU-T E.164: `+`, country code,
//! national number, at most 15 digits), so that the do-not-call list, the
//! caller filters, consents and first-contact resolution compare the same
//! number the same way however it was typed or signalled (issue #13 item 5).
//!
//! [`normalize`] strips separators (spaces, `-`, `.`, `/`, parentheses, a
//! `tel:` prefix), turns the international dialling prefix (`00` by
//! default) into `+`, and gives a number without either the default
//! country's calling code after dropping its national (trunk) prefix (`0`
//! by default). Without a default country, a number with no `+` is taken
//! as already international: `5551234` and `+5551234` are one number.
//! Config: `[numbers]` (`default_country`, `international_prefix`,
//! `national_prefix`).

use serde::{Deserialize, Serialize};

/// `[numbers]`: how numbers without a `+` are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumberConfig {
    /// ISO 3166 alpha-2 code (`AR`, `ES`, `US`) or a calling code (`54`,
    /// `+54`) for numbers dialled nationally; empty: none (numbers without
    /// `+` are taken as international).
    pub default_country: String,
    /// Dialled before a country code instead of `+` (`00`; `011` in NANP).
    pub international_prefix: String,
    /// Dialled before a national number and dropped (`0`; `1` in NANP).
    pub national_prefix: String,
}

impl Default for NumberConfig {
    fn default() -> Self {
        Self { default_country: String::new(), international_prefix: "00".into(), national_prefix: "0".into() }
    }
}

/// Why a text is not a telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} is not a telephone number: only digits, an optional leading + and separators (space - . / ( )) are allowed")]
    NotANumber(String),
    #[error("{0:?} has {1} digits: an E.164 number has 3 to 15")]
    Length(String, usize),
    #[error("[numbers].default_country {0:?} is neither an ISO 3166 code this gateway knows nor a calling code (digits, e.g. \"54\")")]
    UnknownCountry(String),
}

impl NumberConfig {
    /// The default country's calling code (digits), if one is configured.
    pub fn calling_code(&self) -> Result<Option<String>, NumberError> {
        let c = self.default_country.trim();
        if c.is_empty() {
            return Ok(None);
        }
        let digits = c.strip_prefix('+').unwrap_or(c);
        if (1..=3).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(digits.to_string()));
        }
        let upper = c.to_ascii_uppercase();
        COUNTRIES
            .iter()
            .find(|(iso, _)| *iso == upper)
            .map(|(_, code)| Some(code.to_string()))
            .ok_or_else(|| NumberError::UnknownCountry(c.to_string()))
    }

    /// Checks the table at start-up (the error names the key).
    pub fn check(&self) -> Result<(), String> {
        self.calling_code().map_err(|e| e.to_string())?;
        for (key, v) in [("international_prefix", &self.international_prefix), ("national_prefix", &self.national_prefix)] {
            if !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("[numbers].{key} must be digits, not {v:?}"));
            }
        }
        if self.international_prefix.is_empty() {
            return Err("[numbers].international_prefix must not be empty".into());
        }
        Ok(())
    }
}

/// `text` as an E.164 number (`+` and 3 to 15 digits).
pub fn normalize(text: &str, cfg: &NumberConfig) -> Result<String, NumberError> {
    let raw = text.trim();
    let body = raw.strip_prefix("tel:").unwrap_or(raw);
    let mut plus = false;
    let mut digits = String::with_capacity(body.len());
    for (i, c) in body.chars().enumerate() {
        match c {
            '+' if i == 0 => plus = true,
            '0'..='9' => digits.push(c),
            ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')' => {}
            _ => return Err(NumberError::NotANumber(raw.to_string())),
        }
    }
    if digits.is_empty() {
        return Err(NumberError::NotANumber(raw.to_string()));
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix(cfg.international_prefix.as_str()).filter(|_| !cfg.international_prefix.is_empty()) {
        rest.to_string()
    } else {
        match cfg.calling_code()? {
            None => digits,
            Some(code) => {
                let national =
                    if cfg.national_prefix.is_empty() { &digits } else { digits.strip_prefix(&cfg.national_prefix).unwrap_or(&digits) };
                format!("{code}{national}")
            }
        }
    };
    if !(3..=15).contains(&international.len()) {
        return Err(NumberError::Length(raw.to_string(), international.len()));
    }
    Ok(format!("+{international}"))
}

/// `text` normalised when it is a number, else as given (trimmed): for
/// values that may be a name (`anonymous`) or a SIP user that is no number.
pub fn normalize_or_keep(text: &str, cfg: &NumberConfig) -> String {
    normalize(text, cfg).unwrap_or_else(|_| text.trim().to_string())
}

/// ISO 3166 alpha-2 → calling code, for `[numbers].default_country`. Any
/// other country: give its calling code instead.
const COUNTRIES: &[(&str, &str)] = &[
    ("US", "1"),
    ("CA", "1"),
    ("PR", "1"),
    ("DO", "1"),
    ("JM", "1"),
    ("TT", "1"),
    ("BS", "1"),
    ("BB", "1"),
    ("MX", "52"),
    ("GT", "502"),
    ("SV", "503"),
    ("HN", "504"),
    ("NI", "505"),
    ("CR", "506"),
    ("PA", "507"),
    ("CU", "53"),
    ("AR", "54"),
    ("BR", "55"),
    ("CL", "56"),
    ("CO", "57"),
    ("VE", "58"),
    ("PE", "51"),
    ("BO", "591"),
    ("EC", "593"),
    ("PY", "595"),
    ("UY", "598"),
    ("GB", "44"),
    ("IE", "353"),
    ("ES", "34"),
    ("PT", "351"),
    ("FR", "33"),
    ("DE", "49"),
    ("IT", "39"),
    ("NL", "31"),
    ("BE", "32"),
    ("LU", "352"),
    ("CH", "41"),
    ("AT", "43"),
    ("DK", "45"),
    ("SE", "46"),
    ("NO", "47"),
    ("FI", "358"),
    ("IS", "354"),
    ("PL", "48"),
    ("CZ", "420"),
    ("SK", "421"),
    ("HU", "36"),
    ("RO", "40"),
    ("BG", "359"),
    ("GR", "30"),
    ("HR", "385"),
    ("SI", "386"),
    ("RS", "381"),
    ("UA", "380"),
    ("RU", "7"),
    ("TR", "90"),
    ("EE", "372"),
    ("LV", "371"),
    ("LT", "370"),
    ("MT", "356"),
    ("CY", "357"),
    ("IL", "972"),
    ("AE", "971"),
    ("SA", "966"),
    ("EG", "20"),
    ("MA", "212"),
    ("DZ", "213"),
    ("TN", "216"),
    ("NG", "234"),
    ("KE", "254"),
    ("ZA", "27"),
    ("IN", "91"),
    ("PK", "92"),
    ("BD", "880"),
    ("CN", "86"),
    ("HK", "852"),
    ("TW", "886"),
    ("JP", "81"),
    ("KR", "82"),
    ("SG", "65"),
    ("MY", "60"),
    ("ID", "62"),
    ("PH", "63"),
    ("TH", "66"),
    ("VN", "84"),
    ("AU", "61"),
    ("NZ", "64"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(country: &str) -> NumberConfig {
        NumberConfig { default_country: country.into(), ..NumberConfig::default() }
    }

    #[test]
    fn separators_prefixes_and_the_default_country() {
        let none = NumberConfig::default();
        assert_eq!(normalize("5551234", &none).unwrap(), "+5551234");
        assert_eq!(normalize("+5551234", &none).unwrap(), "+5551234");
        assert_eq!(normalize(" +54 9 (351) 555-1234 ", &none).unwrap(), "+5493515551234");
        assert_eq!(normalize("0054 351 555.1234", &none).unwrap(), "+543515551234");
        assert_eq!(normalize("tel:+1-555-010-0100", &none).unwrap(), "+15550100100");
        let ar = cfg("AR");
        assert_eq!(normalize("0351 555 1234", &ar).unwrap(), "+543515551234");
        assert_eq!(normalize("351 5551234", &ar).unwrap(), "+543515551234");
        assert_eq!(normalize("+34 600 000 000", &ar).unwrap(), "+34600000000");
        assert_eq!(normalize("0034600000000", &ar).unwrap(), "+34600000000");
        assert_eq!(normalize("0351 555 1234", &cfg("+54")).unwrap(), "+543515551234");
        let us = NumberConfig { default_country: "us".into(), international_prefix: "011".into(), national_prefix: "1".into() };
        assert_eq!(normalize("1 (555) 010-0100", &us).unwrap(), "+15550100100");
        assert_eq!(normalize("011 44 20 7946 0000", &us).unwrap(), "+442079460000");
    }

    #[test]
    fn what_is_not_a_number() {
        let none = NumberConfig::default();
        for bad in ["", "+", "abc", "555x1234", "++5551234", "55+51234", "*123#", "anonymous"] {
            assert!(matches!(normalize(bad, &none), Err(NumberError::NotANumber(_))), "{bad:?}");
        }
        assert!(matches!(normalize("12", &none), Err(NumberError::Length(_, 2))));
        assert!(matches!(normalize("+1234567890123456", &none), Err(NumberError::Length(_, 16))));
        assert_eq!(normalize_or_keep(" anonymous ", &none), "anonymous");
        assert!(cfg("ZZ").check().unwrap_err().contains("default_country \"ZZ\""));
        assert!(NumberConfig { national_prefix: "x".into(), ..NumberConfig::default() }.check().is_err());
        assert_eq!(cfg("es").calling_code().unwrap().as_deref(), Some("34"));
    }
}
