//! The admin collections beyond the contract's routes and services, answered alike:
//! permissions, roles, tenants, API keys, plugins and the audit log. Each is a page or an item of the
//! admin import's collection of the same name, in the contract's envelope.

use archway_sdk::Response;
use archway_sdk::admin;
use archway_sdk::serde_json::{Map, Value, json};

use crate::answer;
use crate::envelope::{Failure, success};

/// One collection and what its answers are called.
pub struct Collection {
    /// Its path segment under the prefix, and the admin import's collection.
    pub path: &'static str,
    /// The import's collection, when it differs from the path.
    pub import: &'static str,
    /// The key a list's items go under.
    pub items: &'static str,
    /// The noun in its messages.
    pub noun: &'static str,
    /// Which of create, update and delete it takes.
    pub writes: [bool; 3],
}

/// Every generic collection.
pub const COLLECTIONS: [Collection; 6] = [
    Collection {
        path: "permissions",
        import: "permissions",
        items: "permissions",
        noun: "權限配置",
        writes: [true, false, true],
    },
    Collection {
        path: "roles",
        import: "roles",
        items: "roles",
        noun: "角色",
        writes: [true, true, true],
    },
    Collection {
        path: "tenants",
        import: "tenants",
        items: "tenants",
        noun: "租戶",
        writes: [true, true, true],
    },
    Collection {
        path: "api-keys",
        import: "api-keys",
        items: "api_keys",
        noun: "API 密鑰",
        writes: [true, false, true],
    },
    Collection {
        path: "plugins",
        import: "plugins",
        items: "plugins",
        noun: "插件",
        writes: [false, false, true],
    },
    Collection {
        path: "audit",
        import: "audit",
        items: "entries",
        noun: "審計日誌",
        writes: [false, false, false],
    },
];

/// The collection at a path segment.
pub fn named(path: &str) -> Option<&'static Collection> {
    COLLECTIONS.iter().find(|c| c.path == path)
}

impl Collection {
    /// A page: `{"total", <items>}`, and `next` when the collection pages by cursor.
    pub fn list(&self, query: &str) -> Result<Response, Failure> {
        let page = answer(admin::list(self.import, query))?;
        let mut content = json!({ "total": page["total"], self.items: page["items"] });
        if let Some(next) = page.get("next") {
            content["next"] = next.clone();
        }
        Ok(success(200, &format!("獲取{}成功", self.noun), content))
    }

    /// One item.
    pub fn get(&self, id: &str) -> Result<Response, Failure> {
        let item = answer(admin::get(self.import, id))?;
        Ok(success(200, &format!("獲取{}成功", self.noun), item))
    }

    /// A new item.
    pub fn create(&self, body: &Map<String, Value>) -> Result<Response, Failure> {
        let item = answer(admin::put(
            self.import,
            None,
            &Value::Object(body.clone()).to_string(),
        ))?;
        Ok(success(201, &format!("創建{}成功", self.noun), item))
    }

    /// Changes the fields sent.
    pub fn update(&self, id: &str, body: &Map<String, Value>) -> Result<Response, Failure> {
        let mut item = answer(admin::put(
            self.import,
            Some(id),
            &Value::Object(body.clone()).to_string(),
        ))?;
        item["updated_fields"] = json!(body.keys().collect::<Vec<_>>());
        Ok(success(200, &format!("更新{}成功", self.noun), item))
    }

    /// Deletes (or, for API keys, revokes) an item.
    pub fn delete(&self, id: &str) -> Result<Response, Failure> {
        let item = answer(admin::delete(self.import, id))?;
        Ok(success(200, &format!("刪除{}成功", self.noun), item))
    }
}
