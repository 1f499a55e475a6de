//! The "registered or updated recently" decision of the original setup, and the two figures its
//! alerts showed: CDu (date of the last update) and Delta (days since it).

use super::rdap::Registration;
use certhound_config::EnrichConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// `Some(true)` when a counted event happened within `recent_days`; `None` when unknown.
    pub recent: Option<bool>,
    /// Date of the last change (Unix seconds): `updated`, else `created`.
    pub cdu: Option<i64>,
    /// Whole days from `cdu` to now.
    pub delta_days: Option<i64>,
}

pub fn decide(reg: Option<&Registration>, cfg: &EnrichConfig, now: i64) -> Verdict {
    let Some(r) = reg else {
        return Verdict {
            recent: None,
            cdu: None,
            delta_days: None,
        };
    };
    let cdu = r.updated.or(r.created);
    let window = i64::from(cfg.recent_days) * 86400;
    let counts = |event: &str, t: Option<i64>| {
        cfg.recent_events.iter().any(|e| e == event) && t.is_some_and(|t| now - t <= window)
    };
    let known = cfg.recent_events.iter().any(|e| {
        (e == "registration" && r.created.is_some()) || (e == "last changed" && r.updated.is_some())
    });
    let recent = counts("registration", r.created) || counts("last changed", r.updated);
    Verdict {
        recent: if recent || known { Some(recent) } else { None },
        cdu,
        delta_days: cdu.map(|t| (now - t).div_euclid(86400)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(created: Option<i64>, updated: Option<i64>) -> Registration {
        Registration {
            created,
            updated,
            ..Registration::default()
        }
    }

    #[test]
    fn recent_by_either_event() {
        let cfg = EnrichConfig::default();
        let now = 100 * 86400;
        let v = decide(Some(&reg(Some(now - 5 * 86400), None)), &cfg, now);
        assert_eq!(v.recent, Some(true));
        assert_eq!(v.delta_days, Some(5));
        let v = decide(Some(&reg(Some(0), Some(now - 86400))), &cfg, now);
        assert_eq!(
            (v.recent, v.cdu, v.delta_days),
            (Some(true), Some(now - 86400), Some(1))
        );
        let v = decide(Some(&reg(Some(0), Some(10))), &cfg, now);
        assert_eq!(v.recent, Some(false));
        assert_eq!(decide(None, &cfg, now).recent, None);
    }

    #[test]
    fn only_configured_events_count() {
        let cfg = EnrichConfig {
            recent_events: vec!["registration".into()],
            ..EnrichConfig::default()
        };
        let now = 100 * 86400;
        let v = decide(Some(&reg(Some(0), Some(now))), &cfg, now);
        assert_eq!(v.recent, Some(false), "an update alone does not count");
        let v = decide(Some(&reg(None, Some(now))), &cfg, now);
        assert_eq!(v.recent, None, "no registration date: unknown");
    }
}
