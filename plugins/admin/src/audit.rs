//! `/admin/audit`: every change made through the admin API, oldest first.

use archway_sdk::Response;
use archway_sdk::admin;
use archway_sdk::serde_json::json;

use crate::answer;
use crate::envelope::{Failure, success};

/// `GET /admin/audit`: `after` (the `next` of the page before) and `size`.
pub fn list(query: &str) -> Result<Response, Failure> {
    let page = answer(admin::list("audit", query))?;
    Ok(success(
        200,
        "獲取審計日誌成功",
        json!({ "total": page["total"], "entries": page["items"], "next": page["next"] }),
    ))
}
