//! Sizes and durations as people write them (`"512M"`, `"250ms"`), and back.
//!
//! Both directions live here so that `corral check` prints exactly what
//! `load` accepts; a property test holds them to that.

use std::time::Duration;

/// Why a size or duration string was refused; shown after the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnitError {
    /// A bare number is ambiguous for a duration (seconds? milliseconds?).
    #[error("write a unit, e.g. \"5s\" or \"250ms\"")]
    MissingUnit,
    /// Negative limits and timeouts have no meaning.
    #[error("must not be negative")]
    Negative,
    /// Sizes are whole numbers of a unit; the number part is missing or not one.
    #[error("expected a whole number followed by K, M, G or T, e.g. \"512M\"")]
    NotANumber,
    /// The suffix after the number is not a size unit.
    #[error("unknown unit \"{0}\"; use K, M, G or T (powers of 1024), e.g. \"512M\"")]
    UnknownSizeUnit(String),
    /// The value does not fit in the type the supervisor stores it in.
    #[error("too large")]
    TooLarge,
    /// A month or a year: no fixed length, and `"1M"` is most often a size
    /// written where a duration goes, or minutes with the wrong case.
    #[error("use ms, s, m, h or d")]
    CalendarUnit(String),
    /// The suffix is no duration unit at all.
    #[error("unknown unit \"{0}\"; use ms, s, m, h or d")]
    UnknownDurationUnit(String),
    /// humantime's own explanation (stray character, missing number, ...).
    #[error(transparent)]
    Duration(humantime::DurationError),
}

/// humantime's spellings of months and years, which we refuse.
const CALENDAR_UNITS: [&str; 8] = ["M", "month", "months", "y", "yr", "yrs", "year", "years"];

const UNITS: [(&str, u32); 4] = [("T", 4), ("G", 3), ("M", 2), ("K", 1)];

/// Parses `"512M"`, `"10KiB"`, `"1g"`, `"100"` (bytes); units are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(UnitError::Negative);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = match number.parse() {
        Ok(n) => n,
        Err(_) if number.is_empty() => return Err(UnitError::NotANumber),
        Err(_) => return Err(UnitError::TooLarge),
    };
    let unit_upper = unit.trim().to_ascii_uppercase();
    let prefix = unit_upper
        .strip_suffix("IB")
        .or_else(|| unit_upper.strip_suffix('B'))
        .unwrap_or(&unit_upper);
    let power = match prefix {
        "" => 0,
        _ => match UNITS.iter().find(|(name, _)| *name == prefix) {
            Some((_, power)) => *power,
            None if unit.contains('.') => return Err(UnitError::NotANumber),
            None => return Err(UnitError::UnknownSizeUnit(unit.trim().to_owned())),
        },
    };
    number
        .checked_mul(1024u64.pow(power))
        .ok_or(UnitError::TooLarge)
}

/// Formats bytes with the largest unit that divides them exactly, so the
/// text parses back to the same number.
pub fn format_size(bytes: u64) -> String {
    for (name, power) in UNITS {
        let unit = 1024u64.pow(power);
        if bytes != 0 && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// Parses `"250ms"`, `"5s"`, `"1m30s"`; a bare number is refused because
/// its unit would be a guess.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(UnitError::Negative);
    }
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(UnitError::MissingUnit);
    }
    // humantime reads a unit as a run of letters (and `µ`); find the
    // calendar ones before it turns them into 30.44 or 365.25 days.
    let is_unit_char = |c: char| c.is_ascii_alphabetic() || c == 'µ';
    let calendar = text
        .split(|c: char| !is_unit_char(c))
        .find(|unit| CALENDAR_UNITS.contains(unit));
    if let Some(unit) = calendar {
        return Err(UnitError::CalendarUnit(unit.to_owned()));
    }
    humantime::parse_duration(text).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } if !unit.is_empty() => {
            UnitError::UnknownDurationUnit(unit)
        }
        e => UnitError::Duration(e),
    })
}

/// Formats a duration compactly (`"1m30s"`, `"250ms"`) in a form
/// [`parse_duration`] reads back exactly. Days are the largest unit, since
/// months and years are refused.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0ms".to_owned();
    }
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(nanos / 1_000_000), "ms"),
        (u64::from(nanos / 1_000 % 1_000), "us"),
        (u64::from(nanos % 1_000), "ns"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("10K"), Ok(10 * 1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("3 mb"), Ok(3 << 20));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("-1M"), Err(UnitError::Negative));
        assert_eq!(parse_size("M"), Err(UnitError::NotANumber));
        assert_eq!(parse_size("1.5G"), Err(UnitError::NotANumber));
        assert_eq!(
            parse_size("5X"),
            Err(UnitError::UnknownSizeUnit("X".into()))
        );
        assert_eq!(parse_size("99999999T"), Err(UnitError::TooLarge));
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5"), Err(UnitError::MissingUnit));
        assert_eq!(parse_duration("-5s"), Err(UnitError::Negative));
        assert_eq!(
            parse_duration("5 parsecs"),
            Err(UnitError::UnknownDurationUnit("parsecs".into()))
        );
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn calendar_units_are_refused_but_minutes_and_days_are_not() {
        for text in [
            "1M", "1 M", "2months", "1month", "1y", "1yr", "3 years", "1h 1M", "1M1s",
        ] {
            assert!(
                matches!(parse_duration(text), Err(UnitError::CalendarUnit(_))),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("1M").map_err(|e| e.to_string()),
            Err("use ms, s, m, h or d".into())
        );
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(
            parse_duration("5 parsecs").map_err(|e| e.to_string()),
            Err("unknown unit \"parsecs\"; use ms, s, m, h or d".into())
        );
    }

    #[test]
    fn long_durations_are_formatted_in_days_not_months() {
        let days_100 = Duration::from_secs(100 * 86_400 + 1);
        assert_eq!(format_duration(days_100), "100d1s");
        assert_eq!(format_duration(Duration::new(1, 500_000_007)), "1s500ms7ns");
        assert_eq!(format_duration(Duration::from_secs(3_661)), "1h1m1s");
    }

    proptest! {
        #[test]
        fn size_round_trips(bytes in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }

        #[test]
        fn duration_round_trips(secs in 0u64..10 * 365 * 86_400, nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(secs, nanos);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }
}
