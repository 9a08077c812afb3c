//! Fuzzing the value parsers of the ecosystem file: sizes, durations,
//! signals and socket addresses. None panics on any text; what one accepts,
//! its formatter writes back to the same value; a number too large to store
//! is refused as such, never wrapped or clamped.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use nix::sys::signal::Signal;
use proptest::prelude::*;

use crate::config::UnitError;
use crate::config::app::{parse_signal, parse_socket_addr};
use crate::config::units::{format_duration, format_size, parse_duration, parse_size};

/// Text shaped like sizes and durations: digits, unit letters, signs,
/// dots and spaces, in any order.
fn unit_like() -> impl Strategy<Value = String> {
    "[0-9]{0,25}(\\.[0-9]{0,3})?[ ]?(|[KMGTkmgt]|[KMGT]i?[Bb]|ms|us|µs|ns|s|m|h|d|w|[a-zµ]{1,7})([0-9]{0,5}[a-z]{0,3}){0,3}"
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        unit_like(),
        unit_like().prop_map(|s| format!("-{s}"))
    ]
}

proptest! {
    #[test]
    fn fuzz_units_sizes(text in any_text()) {
        match parse_size(&text) {
            Ok(bytes) => prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes)),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn fuzz_units_durations(text in any_text()) {
        match parse_duration(&text) {
            Ok(d) => prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{}", format_duration(d)),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Any whole number followed by a unit is either exactly that many
    /// bytes or `TooLarge`.
    #[test]
    fn fuzz_units_sizes_never_wrap(
        digits in "[1-9][0-9]{0,30}",
        power in 0usize..5,
        suffix in prop::sample::select(vec!["", "B", "iB"]),
    ) {
        let unit = format!("{}{suffix}", ["", "K", "M", "G", "T"][power]);
        let expected = digits
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_mul(1024u128.pow(power as u32)))
            .and_then(|n| u64::try_from(n).ok());
        let got = parse_size(&format!("{digits}{unit}"));
        match expected {
            Some(bytes) => prop_assert_eq!(got, Ok(bytes)),
            None => prop_assert_eq!(got, Err(UnitError::TooLarge)),
        }
    }

    #[test]
    fn fuzz_units_signals(text in any::<String>()) {
        if let Ok(signal) = parse_signal(&text) {
            prop_assert_eq!(parse_signal(signal.as_str()), Ok(signal));
        }
    }

    #[test]
    fn fuzz_units_socket_addresses(text in prop_oneof![any::<String>(), "[0-9.:\\[\\]a-f%]{0,40}"]) {
        if let Ok(addr) = parse_socket_addr(&text) {
            prop_assert_eq!(parse_socket_addr(&addr.to_string()), Ok(addr));
        }
    }

    /// Every address an operator can bind is read back from its text form
    /// (IPv6 flow labels have no text form, so none is generated).
    #[test]
    fn fuzz_units_socket_addresses_round_trip(
        v4 in any::<std::net::SocketAddrV4>(),
        v6 in any::<[u16; 8]>(),
        port in any::<u16>(),
        scope in any::<u32>(),
    ) {
        let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(v6), port, 0, scope));
        for addr in [SocketAddr::V4(v4), v6] {
            prop_assert_eq!(parse_socket_addr(&addr.to_string()), Ok(addr));
        }
    }
}

/// Every signal, by its full name, its short name and in lower case.
#[test]
fn fuzz_units_every_signal_by_every_spelling() {
    for signal in Signal::iterator() {
        let full = signal.as_str();
        let short = full.trim_start_matches("SIG");
        for text in [
            full.to_owned(),
            short.to_owned(),
            short.to_ascii_lowercase(),
            format!(" {full} "),
        ] {
            assert_eq!(parse_signal(&text), Ok(signal), "{text}");
        }
    }
}

/// The example of issue 10: a size of 20 digits is refused as too large.
#[test]
fn fuzz_units_regression_twenty_digit_size_is_too_large() {
    assert_eq!(
        parse_size("99999999999999999999GB"),
        Err(UnitError::TooLarge)
    );
    assert_eq!(parse_size("16777216T"), Err(UnitError::TooLarge));
    assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
    assert!(matches!(
        parse_duration("99999999999999999999999d"),
        Err(UnitError::Duration(_))
    ));
    let shown = parse_duration("213503982334602d").map_err(|e| e.to_string());
    assert!(shown.is_err_and(|e| e.starts_with("number is too large")));
}
