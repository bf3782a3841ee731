"""The Redis account store against a real Redis server, under the shared contract."""

from __future__ import annotations

import uuid

import pytest
import redis

from consumers.account_store import AccountStore, RedisAccountStore
from deploy.embedded import EmbeddedStack
from schemas.accounts import open_session
from tests.unit.account_contract import AccountStoreContract, person
from tests.unit.factories import NOW

pytestmark = pytest.mark.integration


class TestRedisAccountStore(AccountStoreContract):
    @pytest.fixture(autouse=True)
    def _redis(self, stack: EmbeddedStack) -> None:
        self.client = redis.Redis.from_url(stack.redis_url)
        self.prefix = f"a{uuid.uuid4().hex[:8]}:"

    def make_store(self) -> AccountStore:
        return RedisAccountStore(self.client, self.prefix)

    def test_keys_live_under_the_prefix_and_sessions_expire_in_redis_too(self) -> None:
        store = self.make_store()
        store.add(person("wangkz"))
        token, session = open_session("wangkz", NOW)
        store.open_session(session)
        keys = {k.decode() for k in self.client.scan_iter(f"{self.prefix}*")}
        assert keys == {
            f"{self.prefix}account:wangkz",
            f"{self.prefix}accounts",
            f"{self.prefix}session:{session.session_id}",
            f"{self.prefix}sessions:wangkz",
        }
        assert token not in str(keys)  # only the token's hash is stored
        assert 0 < self.client.ttl(f"{self.prefix}session:{session.session_id}") <= 8 * 3600
