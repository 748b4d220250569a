# The admin contract's Python client, as the contract writes it, and a driver that runs
# its example calls: argv = base URL, token, upstream port; one JSON answer per line.
import json
import sys

import requests


class APIGatewayClient:
    def __init__(self, base_url="http://localhost:8080", token=None):
        self.base_url = base_url
        self.headers = {
            'Content-Type': 'application/json'
        }
        if token:
            self.headers['Authorization'] = f'Bearer {token}'

    def create_route(self, route_config):
        """创建路由配置"""
        response = requests.post(
            f"{self.base_url}/admin/routes",
            headers=self.headers,
            json=route_config
        )
        return response.json()

    def register_service(self, service_config):
        """注册服务实例"""
        response = requests.post(
            f"{self.base_url}/admin/services",
            headers=self.headers,
            json=service_config
        )
        return response.json()

    def health_check(self):
        """健康检查"""
        response = requests.get(f"{self.base_url}/health")
        return response.json()


base_url, token, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = APIGatewayClient(base_url, token=token)

route = client.create_route({
    "service_name": "user-service",
    "path_pattern": "/api/v1/users/*",
    "target_url": "/users/*",
    "method": "GET",
    "requires_auth": True
})
print(json.dumps(route))

service = client.register_service({
    "service_name": "user-service",
    "instance_id": "user-001",
    "host": "127.0.0.1",
    "port": port
})
print(json.dumps(service))

print(json.dumps(client.health_check()))
