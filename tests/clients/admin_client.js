// The admin contract's JavaScript client, as the contract writes it, and a driver that
// runs its example calls: argv = base URL, token, upstream port; one JSON answer per line.

class APIGatewayClient {
  constructor(baseUrl = 'http://localhost:8080', token = null) {
    this.baseUrl = baseUrl;
    this.headers = {
      'Content-Type': 'application/json'
    };
    if (token) {
      this.headers['Authorization'] = `Bearer ${token}`;
    }
  }

  async createRoute(routeConfig) {
    const response = await fetch(`${this.baseUrl}/admin/routes`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify(routeConfig)
    });
    return await response.json();
  }

  async registerService(serviceConfig) {
    const response = await fetch(`${this.baseUrl}/admin/services`, {
      method: 'POST',
      headers: this.headers,
      body: JSON.stringify(serviceConfig)
    });
    return await response.json();
  }

  async healthCheck() {
    const response = await fetch(`${this.baseUrl}/health`);
    return await response.json();
  }

  async getMetrics() {
    const response = await fetch(`${this.baseUrl}/metrics`);
    return await response.json();
  }
}

const [baseUrl, token, port] = process.argv.slice(2);
const client = new APIGatewayClient(baseUrl, token);

(async () => {
  console.log(JSON.stringify(await client.createRoute({
    service_name: 'user-service',
    path_pattern: '/api/v1/users/*',
    target_url: '/users/*',
    method: 'GET',
    requires_auth: true,
    rate_limit_rpm: 500
  })));
  console.log(JSON.stringify(await client.registerService({
    service_name: 'user-service',
    instance_id: 'user-service-001',
    host: '127.0.0.1',
    port: Number(port),
    protocol: 'http',
    weight: 100
  })));
  console.log(JSON.stringify(await client.healthCheck()));
  console.log(JSON.stringify(await client.getMetrics()));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
