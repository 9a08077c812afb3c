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
    /// humantime's own explanation (unknown unit, stray character, ...).
    #[error(transparent)]
    Duration(#[from] humantime::DurationError),
}

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
        if bytes != 0 && bytes % unit == 0 {
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
    Ok(humantime::parse_duration(text)?)
}

/// Formats a duration compactly (`"1m30s"`, `"250ms"`) in a form
/// [`parse_duration`] reads back exactly.
pub fn format_duration(duration: Duration) -> String {
    if duration.is_zero() {
        return "0ms".to_owned();
    }
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
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
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
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
