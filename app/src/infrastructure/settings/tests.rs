//! Reading settings: defaults, bad values named, secrets masked.

use super::*;

fn from(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::from_lookup(|name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
}

#[test]
fn defaults_need_no_environment() {
    let s = from(&[]).unwrap();
    assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(s.log_format, LogFormat::Json);
    assert_eq!(s.log_filter, "info");
    assert_eq!(s.drain_timeout, Duration::from_secs(10));
    assert!(s.redis_url.is_none());
}

#[test]
fn a_bad_value_names_the_variable_and_the_expected_form() {
    let err = from(&[("APP_DRAIN_TIMEOUT", "soon")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "APP_DRAIN_TIMEOUT=\"soon\" is not valid: expected a duration such as 10s or 500ms"
    );
    assert_eq!(
        from(&[("APP_LISTEN", "3000")]).unwrap_err().var,
        "APP_LISTEN"
    );
    assert_eq!(
        from(&[("DATABASE_URL", "mysql://x")]).unwrap_err().var,
        "DATABASE_URL"
    );
    assert_eq!(
        from(&[("APP_LOG_FORMAT", "xml")]).unwrap_err().var,
        "APP_LOG_FORMAT"
    );
}

#[test]
fn secrets_are_masked_and_token_ttl_is_bounded() {
    let url = "mysql://ann:s3cret@db.example/app";
    let err = from(&[("DATABASE_URL", url)]).unwrap_err().to_string();
    assert!(err.contains("mysql://ann:***@db.example/app") && !err.contains("s3cret"));
    let err = from(&[("REDIS_URL", "nope://u:s3cret@h")]).unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let ttl = |v| from(&[("APP_TOKEN_TTL", v)]);
    assert_eq!(ttl("365days").unwrap().token_ttl, Some(TOKEN_TTL_MAX));
    assert_eq!(ttl("366days").unwrap_err().var, "APP_TOKEN_TTL");
    assert_eq!(ttl("100000000years").unwrap_err().var, "APP_TOKEN_TTL");
}

#[test]
fn app_log_wins_over_rust_log() {
    let s = from(&[("RUST_LOG", "warn"), ("APP_LOG", "debug")]).unwrap();
    assert_eq!(s.log_filter, "debug");
    assert_eq!(from(&[("RUST_LOG", "warn")]).unwrap().log_filter, "warn");
}

#[test]
fn one_thread_per_worker_under_a_supervisor() {
    assert_eq!(from(&[("LISTEN_FDS", "2")]).unwrap().threads, 1);
    assert_eq!(
        from(&[("LISTEN_FDS", "2"), ("APP_THREADS", "3")])
            .unwrap()
            .threads,
        3
    );
    assert!(from(&[]).unwrap().threads >= 1);
    assert_eq!(
        from(&[("APP_THREADS", "0")]).unwrap_err().var,
        "APP_THREADS"
    );
}

#[test]
fn the_cache_budget_is_a_bounded_number_of_mib() {
    assert_eq!(from(&[]).unwrap().cache_mib, None);
    assert_eq!(from(&[("APP_CACHE_MIB", "0")]).unwrap().cache_mib, Some(0));
    assert_eq!(
        from(&[("APP_CACHE_MIB", " 32 ")]).unwrap().cache_mib,
        Some(32)
    );
    for bad in ["-1", "8MiB", "65537"] {
        assert_eq!(
            from(&[("APP_CACHE_MIB", bad)]).unwrap_err().var,
            "APP_CACHE_MIB",
            "{bad}"
        );
    }
}

#[test]
fn the_access_log_is_on_unless_turned_off() {
    assert!(from(&[]).unwrap().access_log);
    assert!(from(&[("APP_ACCESS_LOG", "on")]).unwrap().access_log);
    assert!(!from(&[("APP_ACCESS_LOG", "off")]).unwrap().access_log);
    assert_eq!(
        from(&[("APP_ACCESS_LOG", "no")]).unwrap_err().to_string(),
        "APP_ACCESS_LOG=\"no\" is not valid: expected on or off"
    );
}

#[test]
fn the_instance_comes_from_corral_only_with_both_variables() {
    assert_eq!(from(&[]).unwrap().instance, None);
    assert_eq!(from(&[("CORRAL_INSTANCE", "1")]).unwrap().instance, None);
    let both = from(&[("CORRAL_INSTANCE", "1"), ("CORRAL_INSTANCES", "2")]).unwrap();
    assert_eq!(both.instance, Some(Instance { index: 1, count: 2 }));
    for (index, count) in [("2", "2"), ("x", "2"), ("0", "two"), ("0", "0")] {
        let err = from(&[("CORRAL_INSTANCE", index), ("CORRAL_INSTANCES", count)]).unwrap_err();
        assert_eq!(err.var, "CORRAL_INSTANCES", "{index} of {count}");
    }
}

#[test]
fn the_database_options_are_read_with_the_rest() {
    assert_eq!(
        from(&[]).unwrap().database,
        crate::data::DbOptions::default()
    );
    let set = from(&[("APP_DB_POOL_MAX", "3")]).unwrap().database;
    assert_eq!(set.pool.max, 3);
    let err = from(&[("APP_DB_CONNECT_TIMEOUT", "0s")]).unwrap_err();
    assert_eq!(err.var, "APP_DB_CONNECT_TIMEOUT");
}
