//! The admin contract's envelope, `{"code", "msg", "content"}`, and its codes: a success
//! carries `S10000`, a failure the code of its kind.

use archway_sdk::Response;
use archway_sdk::admin::AdminError;
use archway_sdk::serde_json::{Value, json};

/// A failed admin call, as the client is told.
#[derive(Debug, PartialEq)]
pub struct Failure {
    /// The HTTP status.
    pub status: u16,
    /// The contract's code.
    pub code: &'static str,
    /// The message.
    pub msg: String,
    /// Details (the field at fault).
    pub content: Value,
}

impl Failure {
    /// 401 `F40001`: no caller.
    pub fn unauthorized() -> Self {
        Self::new(401, "F40001", "未授權訪問")
    }

    /// 403 `F40003`: the caller lacks the permission.
    pub fn forbidden(needed: &str) -> Self {
        Self {
            content: json!({ "required_permission": needed }),
            ..Self::new(403, "F40003", "權限不足，僅管理員可操作")
        }
    }

    /// 400 `F40000`: a field is not valid.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self {
            content: json!({ "field": field, "message": message }),
            ..Self::new(400, "F40000", &format!("參數驗證失敗，{field}: {message}"))
        }
    }

    /// 404 `F40400`: nothing at this path or with this id.
    pub fn not_found(message: &str) -> Self {
        Self::new(404, "F40400", message)
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed() -> Self {
        Self::new(405, "F40500", "不支持的請求方法")
    }

    fn new(status: u16, code: &'static str, msg: &str) -> Self {
        Self {
            status,
            code,
            msg: msg.to_owned(),
            content: json!({}),
        }
    }

    /// The failure's response.
    pub fn response(&self) -> Response {
        Response::json(
            self.status,
            &json!({ "code": self.code, "msg": self.msg, "content": self.content }),
        )
    }
}

impl From<AdminError> for Failure {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Invalid(field) => Self::invalid(&field.field, &field.message),
            AdminError::NotFound(why) => Self::not_found(&why),
            AdminError::Conflict(why) => Self::new(409, "F40900", &why),
            AdminError::Unavailable(_) => Self::new(503, "F50300", "服務不可用，請稍後重試"),
        }
    }
}

/// A success: `S10000` with `msg` and `content`.
pub fn success(status: u16, msg: &str, content: Value) -> Response {
    Response::json(
        status,
        &json!({ "code": "S10000", "msg": msg, "content": content }),
    )
}
