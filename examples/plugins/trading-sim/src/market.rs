//! A toy market: a small random number generator, positions opened with part of a
//! portfolio's cash, and prices that take a random walk.

use archway_sdk::serde_json::{Value, json};

/// The instruments portfolios buy, with a starting price.
const INSTRUMENTS: [(&str, f64); 5] = [
    ("000001.SZ", 10.0),
    ("600000.SH", 7.5),
    ("600519.SH", 1500.0),
    ("000858.SZ", 120.0),
    ("601318.SH", 45.0),
];

/// xorshift64*: plenty for a simulation, and no host call for entropy.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A version-4-shaped UUID.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// FNV-1a: a seed from an id.
pub fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rounded to cents.
pub fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Three positions bought with up to half of `cash`: the positions and what they cost.
pub fn open_positions(rng: &mut Rng, cash: f64) -> (Value, f64) {
    let first = rng.below(INSTRUMENTS.len() as u64) as usize;
    let budget = cash / 6.0;
    let mut spent = 0.0;
    let positions: Vec<Value> = (0..3)
        .filter_map(|i| {
            let (code, price) = INSTRUMENTS[(first + i) % INSTRUMENTS.len()];
            // Round lots of 100 shares where the budget allows, else single shares.
            let shares = (budget / price).floor();
            let volume = if shares >= 100.0 {
                (shares / 100.0).floor() * 100.0
            } else {
                shares
            };
            if volume < 1.0 {
                return None;
            }
            spent += volume * price;
            Some(json!({
                "code": code, "direction": "long", "volume": volume as u64,
                "available_volume": volume as u64, "cost_price": price, "current_price": price,
                "market_value": cents(volume * price), "profit_loss": 0.0,
                "profit_loss_ratio": 0.0,
            }))
        })
        .collect();
    (json!(positions), spent)
}

/// Moves each position's price by up to ±0.5 %; the positions' market value and their
/// profit or loss.
pub fn move_prices(rng: &mut Rng, positions: &mut Value) -> (f64, f64) {
    let (mut value, mut pnl) = (0.0, 0.0);
    for position in positions.as_array_mut().into_iter().flatten() {
        let volume = position["volume"].as_f64().unwrap_or(0.0);
        let cost = position["cost_price"].as_f64().unwrap_or(0.0);
        let price = position["current_price"].as_f64().unwrap_or(cost);
        let price = cents(price * (1.0 + (rng.unit() - 0.5) / 100.0)).max(0.01);
        let market = cents(volume * price);
        let profit = cents(market - volume * cost);
        position["current_price"] = json!(price);
        position["market_value"] = json!(market);
        position["profit_loss"] = json!(profit);
        position["profit_loss_ratio"] = json!(if cost > 0.0 {
            ((price / cost - 1.0) * 10_000.0).round() / 10_000.0
        } else {
            0.0
        });
        value += market;
        pnl += profit;
    }
    (value, pnl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_cost_what_they_are_worth_at_first_and_then_move() {
        let mut rng = Rng::new(7);
        let (mut positions, spent) = open_positions(&mut rng, 100_000.0);
        assert_eq!(positions.as_array().map(Vec::len), Some(3));
        assert!(spent > 0.0 && spent <= 50_000.0, "{spent}");
        let before = positions.clone();
        let (value, _) = move_prices(&mut rng, &mut positions);
        assert!((value - spent).abs() < spent * 0.01, "{value} vs {spent}");
        assert_ne!(positions, before);
    }

    #[test]
    fn uuids_have_the_version_4_shape() {
        let id = Rng::new(1).uuid();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4");
    }
}
