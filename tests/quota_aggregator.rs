//! The `quota_aggregator` example's two paths, on a real loopback server:
//! every fetch succeeds, or one fails and the slow one still running is
//! cancelled.
#![cfg(feature = "hyper")]

#[path = "../examples/quota_aggregator.rs"]
#[allow(dead_code)]
mod quota_aggregator;

use std::time::{Duration, Instant};

use quota_aggregator::{start_server, QuotaAggregator, ServerConfig, UserInfo};
use serde_json::json;

fn userinfo() -> UserInfo {
    UserInfo {
        user_id: 7,
        name: "grace".into(),
        plan: "basic".into(),
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn execute_merges_every_resource_by_lower_case_name() {
    evloop::run(async {
        let server = start_server(ServerConfig::default()).unwrap();
        let mut aggregator = QuotaAggregator::new(userinfo(), server.endpoint());
        let quota = aggregator.execute().await.unwrap();

        let keys: Vec<&str> = quota.keys().map(String::as_str).collect();
        assert_eq!(keys, ["device_category", "metro_quota", "rda_quota"]);
        // The server saw the userinfo we sent: it echoes the user id back.
        assert_eq!(
            quota["device_category"],
            json!({ "user_id": 7, "category": "smartphone", "max_devices": 5 })
        );
        assert_eq!(
            quota["metro_quota"],
            json!({ "user_id": 7, "metro": "ams", "quota_mb": 2048 })
        );
        assert_eq!(
            quota["rda_quota"],
            json!({ "user_id": 7, "rda": "eu-west", "quota_mb": 512 })
        );
        assert_eq!(aggregator.agg_quota, quota);
    });
}

#[test]
#[cfg_attr(miri, ignore)]
fn execute_fails_fast_and_cancels_the_pending_fetch() {
    let slow_delay = Duration::from_secs(2);
    evloop::run(async move {
        let server = start_server(ServerConfig {
            failing: Some("METRO_QUOTA"),
            slow: Some(("RDA_QUOTA", slow_delay)),
        })
        .unwrap();
        let mut aggregator = QuotaAggregator::new(userinfo(), server.endpoint());

        let start = Instant::now();
        let err = aggregator.execute().await.unwrap_err();
        let elapsed = start.elapsed();

        assert_eq!(err.to_string(), "unable to fetch quota resources");
        assert!(
            elapsed < slow_delay / 2,
            "execute took {elapsed:?}; it waited for the slow fetch"
        );
        let failed: Vec<&str> = err.failed.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(failed, ["METRO_QUOTA"]);
        assert!(err.failed[0].1.contains("500"), "{:?}", err.failed);
        // The slow fetch was still pending and was cancelled (its task
        // reported `cancelled()` after the second wait).
        assert_eq!(err.cancelled, ["RDA_QUOTA"]);
        assert!(aggregator.agg_quota.is_empty(), "nothing is merged on failure");

        // Server side: the slow request was in flight (all three requests go
        // out in the same ticks, before the 500 can come back), it never got
        // its answer, and once the cancelled fetch closed its connection
        // hyper dropped the handler.
        let slow = &server.slow;
        assert_eq!(slow.started.get(), 1);
        assert_eq!(slow.completed.get(), 0);
        let dropped = evloop::wait_for(
            async {
                while slow.abandoned.get() < 1 {
                    evloop::sleep(Duration::from_millis(5)).await;
                }
            },
            Duration::from_secs(1),
        )
        .await;
        assert!(dropped.is_ok(), "the server still holds the slow request");
        assert_eq!(slow.completed.get(), 0);
    });
}
