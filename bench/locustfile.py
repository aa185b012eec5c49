"""The Beta 500 task mix of bench/vus100.js for Locust (used by bench/peers.sh).

Weights per iteration as in the tally script: balance GET 3, AI search 2, AI recommendations 1,
three deductions 1 (sequential here: Locust has no http.batch), threshold check 1 (a balance GET
whose JSON is parsed). No think time: run it with a fixed number of users against 127.0.0.1 only.
"""
import json

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser


class MixUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        self.user = "bench-%d" % id(self)
        self.hdrs = {"Authorization": "Bearer mock-token-" + self.user, "Content-Type": "application/json"}

    @task(3)
    def balance(self):
        self.client.get("/api/v1/beta/credits/balance", headers=self.hdrs)

    @task(2)
    def search(self):
        self.client.post("/api/v1/beta/ai-search", data=json.dumps({"query": "q", "limit": 5}), headers=self.hdrs)

    @task(1)
    def recommend(self):
        self.client.get("/api/v1/beta/ai-recommendations?limit=5", headers=self.hdrs)

    @task(1)
    def deduct3(self):
        body = json.dumps({"user_id": self.user, "feature": "ai_search", "usage_amount": 1, "metadata": {}})
        for _ in range(3):
            self.client.post("/api/v1/beta/credits/deduct", data=body, headers=self.hdrs)

    @task(1)
    def threshold(self):
        r = self.client.get("/api/v1/beta/credits/balance", headers=self.hdrs)
        if r.status_code == 200:
            assert isinstance(json.loads(r.content)["remaining_credits"], int)
