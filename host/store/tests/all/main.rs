//! Integration tests of archway-store against real backends: one suite run on both the
//! embedded store and a spawned redis-server, then what only one backend has (embedded
//! durability, Redis outages, a key layout other Redis clients can use).

mod embedded;
mod fixture;
mod redis_layout;
mod redis_outage;
mod suite;

/// Instantiates each suite test once per backend.
macro_rules! for_each_backend {
    ($($test:ident),* $(,)?) => {
        mod on_embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let fixture = crate::fixture::Fixture::embedded();
                    crate::fixture::bounded(crate::suite::$test(&fixture)).await;
                }
            )*
        }
        mod on_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let fixture = crate::fixture::Fixture::redis();
                    crate::fixture::bounded(crate::suite::$test(&fixture)).await;
                }
            )*
        }
    };
}

for_each_backend!(
    reports_backend_and_health,
    set_get_and_delete,
    ttl_makes_keys_absent_once_passed,
    increments_from_two_handles_are_atomic,
    increment_refuses_non_integers,
    compare_and_swap_checks_presence_and_value,
    scan_returns_prefix_matches_sorted_and_limited,
    stream_ids_order_appends_across_handles,
    stream_entries_keep_their_fields_in_order,
    stream_range_and_read_after_select_by_id,
    change_feed_reaches_other_handles,
    rate_limit_allows_limit_then_denies,
    rate_limit_is_shared_across_handles,
    sliding_window_allows_limit_then_denies_until_the_oldest_leaves,
    oversized_keys_and_values_are_refused,
    a_lease_has_one_holder_until_it_lapses,
    a_burst_of_changes_can_be_skipped_at_once,
);
