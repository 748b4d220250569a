//! Choosing an instance of a service for one request, by the route's
//! `load_balance_strategy`, among the instances the caller says may take it (healthy,
//! not draining, breaker not open, not tried yet).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use archway_config::LoadBalanceStrategy;

use crate::service::Instance;

/// The state strategies keep between picks, per service.
#[derive(Debug, Default)]
pub(crate) struct Balancer {
    /// Round-robin position, also where least-connections starts breaking ties.
    next: AtomicUsize,
    /// Smooth weighted round robin's current weight per instance.
    current: Mutex<Vec<i64>>,
}

impl Balancer {
    /// The index of the instance for the next request among those `eligible` accepts;
    /// `None` when it accepts none.
    pub(crate) fn pick(
        &self,
        instances: &[Instance],
        strategy: LoadBalanceStrategy,
        eligible: impl Fn(usize, &Instance) -> bool,
    ) -> Option<usize> {
        let candidates = instances
            .iter()
            .enumerate()
            .filter(|&(index, instance)| eligible(index, instance));
        let count = candidates.clone().count();
        if count == 0 {
            return None;
        }
        match strategy {
            LoadBalanceStrategy::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % count;
                candidates.map(|(index, _)| index).nth(turn)
            }
            LoadBalanceStrategy::Weighted => Some(self.weighted(instances.len(), candidates)),
            LoadBalanceStrategy::LeastConnections => {
                // Ties go round-robin, so equally busy instances share the load.
                let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
                let rotated = candidates.clone().skip(start).chain(candidates.take(start));
                rotated
                    .min_by_key(|(_, i)| i.in_flight())
                    .map(|(index, _)| index)
            }
        }
    }

    /// Smooth weighted round robin: every candidate gains its weight, the one with the
    /// most is chosen and gives back the total, so over any window each gets its share,
    /// spread out rather than in bursts.
    fn weighted<'a>(
        &self,
        instances: usize,
        candidates: impl Iterator<Item = (usize, &'a Instance)>,
    ) -> usize {
        let mut current = self.current.lock().expect("balancer lock");
        current.resize(instances, 0);
        let mut total = 0;
        let mut best = None;
        for (index, instance) in candidates {
            let weight = i64::from(instance.weight);
            total += weight;
            current[index] += weight;
            if best.is_none_or(|b: usize| current[index] > current[b]) {
                best = Some(index);
            }
        }
        let best = best.expect("weighted is asked only with a candidate");
        current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::InstanceState;
    use archway_config::{Endpoint, InstanceStatus};
    use std::sync::Arc;

    fn taking(_: usize, instance: &Instance) -> bool {
        !instance.draining
    }

    fn instances(weights: &[(u32, bool)]) -> Vec<Instance> {
        weights
            .iter()
            .enumerate()
            .map(|(n, &(weight, draining))| {
                let endpoint = Endpoint {
                    id: format!("i{n}"),
                    url: format!("http://127.0.0.1:{}", 9000 + n),
                    weight,
                    status: match draining {
                        true => InstanceStatus::Draining,
                        false => InstanceStatus::Healthy,
                    },
                    probe: None,
                };
                let state = Arc::new(InstanceState::new("s", &endpoint));
                Instance::new(&endpoint, state).expect("instance")
            })
            .collect()
    }

    fn picks(
        balancer: &Balancer,
        all: &[Instance],
        strategy: LoadBalanceStrategy,
        n: usize,
    ) -> Vec<usize> {
        let mut counts = vec![0; all.len()];
        for _ in 0..n {
            counts[balancer.pick(all, strategy, taking).expect("an instance")] += 1;
        }
        counts
    }

    #[test]
    fn round_robin_takes_turns_and_skips_draining_instances() {
        let all = instances(&[(100, false), (100, true), (100, false)]);
        let counts = picks(
            &Balancer::default(),
            &all,
            LoadBalanceStrategy::RoundRobin,
            10,
        );
        assert_eq!(counts, [5, 0, 5]);
    }

    #[test]
    fn weighted_gives_each_its_share_spread_out() {
        let all = instances(&[(100, false), (300, false)]);
        let balancer = Balancer::default();
        assert_eq!(
            picks(&balancer, &all, LoadBalanceStrategy::Weighted, 400),
            [100, 300]
        );
        let order: Vec<_> = (0..4)
            .map(|_| {
                let index = balancer.pick(&all, LoadBalanceStrategy::Weighted, taking);
                all[index.expect("one")].id.clone()
            })
            .collect();
        assert_eq!(
            order.iter().filter(|id| *id == "i0").count(),
            1,
            "{order:?}"
        );
    }

    #[test]
    fn least_connections_prefers_the_idle_instance() {
        let all = instances(&[(100, false), (100, false)]);
        let balancer = Balancer::default();
        let _busy = all[0].start();
        assert_eq!(
            picks(&balancer, &all, LoadBalanceStrategy::LeastConnections, 5),
            [0, 5]
        );
    }

    #[test]
    fn nothing_is_picked_when_every_instance_drains() {
        let all = instances(&[(100, true)]);
        for strategy in [
            LoadBalanceStrategy::RoundRobin,
            LoadBalanceStrategy::Weighted,
            LoadBalanceStrategy::LeastConnections,
        ] {
            assert!(Balancer::default().pick(&all, strategy, taking).is_none());
        }
    }
}
