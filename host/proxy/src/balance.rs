//! Choosing an instance of a service for one request, by the route's
//! `load_balance_strategy`, among the instances that take new requests (not draining).

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
    /// The instance for the next request; `None` when every instance is draining.
    pub(crate) fn pick<'a>(
        &self,
        instances: &'a [Instance],
        strategy: LoadBalanceStrategy,
    ) -> Option<&'a Instance> {
        let eligible = instances.iter().enumerate().filter(|(_, i)| !i.draining);
        let count = eligible.clone().count();
        if count == 0 {
            return None;
        }
        let index = match strategy {
            LoadBalanceStrategy::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % count;
                eligible.map(|(index, _)| index).nth(turn)?
            }
            LoadBalanceStrategy::Weighted => self.weighted(instances),
            LoadBalanceStrategy::LeastConnections => {
                // Ties go round-robin, so equally busy instances share the load.
                let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
                let rotated = eligible.clone().skip(start).chain(eligible.take(start));
                rotated.min_by_key(|(_, i)| i.in_flight())?.0
            }
        };
        instances.get(index)
    }

    /// Smooth weighted round robin: every eligible instance gains its weight, the one
    /// with the most is chosen and gives back the total, so over any window each gets
    /// its share, spread out rather than in bursts.
    fn weighted(&self, instances: &[Instance]) -> usize {
        let mut current = self.current.lock().expect("balancer lock");
        current.resize(instances.len(), 0);
        let mut total = 0;
        let mut best = None;
        for (index, instance) in instances.iter().enumerate().filter(|(_, i)| !i.draining) {
            let weight = i64::from(instance.weight);
            total += weight;
            current[index] += weight;
            if best.is_none_or(|b: usize| current[index] > current[b]) {
                best = Some(index);
            }
        }
        let best = best.expect("weighted is asked only with an eligible instance");
        current[best] -= total;
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instances(weights: &[(u32, bool)]) -> Vec<Instance> {
        weights
            .iter()
            .enumerate()
            .map(|(n, &(weight, draining))| {
                Instance::new(
                    &format!("i{n}"),
                    &format!("http://127.0.0.1:{}", 9000 + n),
                    weight,
                    draining,
                )
                .expect("instance")
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
            let picked = balancer.pick(all, strategy).expect("an instance");
            let index = all
                .iter()
                .position(|i| std::ptr::eq(i, picked))
                .expect("one of them");
            counts[index] += 1;
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
                balancer
                    .pick(&all, LoadBalanceStrategy::Weighted)
                    .expect("one")
                    .id
                    .clone()
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
            assert!(Balancer::default().pick(&all, strategy).is_none());
        }
    }
}
