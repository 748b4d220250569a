//! `GET /sample/orders/{n}`: a page of `n` sample orders in a trading backend's own shape
//! (camelCase enums, quantities in integer units of 1e-8, prices as floats), for the
//! `transform` plugin's envelope conversion to rewrite, and for benchmarks of it.

use serde_json::{Value, json};

/// The most orders one page holds.
pub(crate) const MAX_ORDERS: usize = 10_000;

const STATUSES: [&str; 4] = ["new", "partiallyFilled", "filled", "cancelled"];
const SYMBOLS: [&str; 3] = ["600000.SH", "000001.SZ", "601318.SH"];

/// `n` orders, each the same for the same index.
pub(crate) fn page(n: usize) -> Value {
    let orders: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "orderId": format!("ord-{i:06}"),
                "symbol": SYMBOLS[i % SYMBOLS.len()],
                "side": if i % 2 == 0 { "buy" } else { "sell" },
                "status": STATUSES[i % STATUSES.len()],
                "qty": 100_000_000_u64 * (i as u64 % 50 + 1),
                "price": 7.5 + (i % 100) as f64 / 100.0,
            })
        })
        .collect();
    json!({ "orders": orders, "total": n })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_has_the_orders_asked_for_in_a_stable_shape() {
        let page = super::page(3);
        assert_eq!(page["total"], 3);
        assert_eq!(
            page["orders"][1],
            serde_json::json!({
                "orderId": "ord-000001", "symbol": "000001.SZ", "side": "sell",
                "status": "partiallyFilled", "qty": 200_000_000_u64, "price": 7.51
            })
        );
    }
}
