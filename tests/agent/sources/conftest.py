"""Real upstreams for the source tests (a node-wot ExposedThing, the Mosquitto broker) and one
harness per source implementation. The shared behaviour suite (test_source_behaviour.py) runs
against every harness in HARNESSES: a new source joins by adding its harness here."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UPSTREAM_JS = ROOT / "device_agent" / "sources" / "upstream_thing.js"  # also used by device-agent bench
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def _free_port() -> int:
    from exchange.chain.anvil import free_port

    return free_port()


class NodeWotThing:
    """``node wot_upstream.js``: a node-wot ExposedThing on a free port, driven over stdin."""

    def __init__(self, auth: str = "nosec", *secrets: str):
        if shutil.which("node") is None or not (ROOT / "node_modules" / "@node-wot" / "core").is_dir():
            pytest.skip("node-wot is not installed: run ./scripts/setup (npm install of @node-wot/core)")
        self.port = _free_port()
        self.proc = subprocess.Popen(["node", str(UPSTREAM_JS), str(self.port), auth, *secrets], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.td_url = self._next(60)["td"]
        self.values: dict = {}

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def _next(self, timeout: float = 30) -> dict:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"node-wot upstream said nothing in {timeout} s (exit {self.proc.poll()})") from None

    def command(self, cmd: dict) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        assert self._next()["ok"] == cmd

    def set(self, **values) -> None:
        self.command({"set": values})
        self.values.update(values)

    def emit(self, name: str, data: dict) -> None:
        self.command({"emit": name, "data": data})

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def wot_thing():
    made = []

    def make(auth: str = "nosec", *secrets: str) -> NodeWotThing:
        thing = NodeWotThing(auth, *secrets)
        made.append(thing)
        return thing

    yield make
    for t in made:
        t.close()


def _broker_answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mqtt_broker():
    """(host, port) of a real MQTT broker: the one on 127.0.0.1:1883, else a Mosquitto started here."""
    if _broker_answers(MQTT_HOST, MQTT_PORT):
        yield MQTT_HOST, MQTT_PORT
        return
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        pytest.skip("no MQTT broker on 127.0.0.1:1883 and no mosquitto binary: apt-get install mosquitto")
    port = _free_port()
    proc = subprocess.Popen([binary, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not _broker_answers(MQTT_HOST, port):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.skip("mosquitto did not start: apt-get install mosquitto")
        time.sleep(0.05)
    yield MQTT_HOST, port
    proc.terminate()
    proc.wait(timeout=10)


class Publisher:
    """A plain paho client publishing as a home device would."""

    def __init__(self, host: str, port: int):
        import paho.mqtt.client as mqtt

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload, retain: bool = False) -> None:
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        self.client.publish(topic, body, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def mqtt_publisher(mqtt_broker):
    pub = Publisher(*mqtt_broker)
    yield pub
    pub.close()


@pytest.fixture
def topic_prefix():
    """A topic prefix of this test alone (others use the same broker at the same time)."""
    return f"thingbid-test/{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------ harnesses
class Harness:
    """One source implementation with its upstream, for the shared suite.

    ``make()`` the source; ``publish(name)`` makes the upstream produce a fresh value of
    ``name`` and returns it (None: the source decides its own values, see ``matches``);
    ``fire_event()`` makes the upstream emit an event, returning (name, data) to look for;
    ``secrets`` are strings of the upstream that must never reach the agent's TD."""

    kind = ""
    secrets: tuple[str, ...] = ()

    def make(self, **kw):
        raise NotImplementedError

    def publish(self, name: str):
        raise NotImplementedError

    def matches(self, reading) -> bool:
        return reading.value == self.last[reading.name]

    def fire_event(self) -> tuple[str, dict]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SimulatorHarness(Harness):
    kind = "simulator"

    def __init__(self, request, tmp_path):
        from device_agent.simulators import make_simulator

        self.sim = make_simulator("fridge", 7)

    def make(self, **kw):
        from device_agent.sources.simulated import SimulatedSource

        return SimulatedSource("fridge", 7, sample_seconds=60, backfill_seconds=86_400, **kw)

    def publish(self, name: str):
        return None  # the simulator's values are a function of time

    def matches(self, reading) -> bool:
        return reading.value == self.sim.read(reading.name, reading.t)

    def fire_event(self):
        now = int(time.time())
        ev = self.sim.events(now - 86_400, now)[-1]  # recorded by the backfill at start
        return ev["event"], {k: v for k, v in ev.items() if k not in ("event", "t")}


class WotHarness(Harness):
    kind = "wot"

    def __init__(self, request, tmp_path):
        self.thing = NodeWotThing("basic", "owner", "upstream-s3cret")
        self.tmp = tmp_path
        self.last: dict = {}
        self.n = 0
        self.secrets = (f"127.0.0.1:{self.thing.port}", "upstream-s3cret", "Alice", "4711", "Main Street",
                        "kitchen-sensor")

    def make(self, **kw):
        from device_agent.sources.wot import WotSource

        return WotSource(self.thing.td_url, auth="basic", creds={"username": "owner", "password": "upstream-s3cret"},
                         poll_seconds=0.2, td_cache=self.tmp / "upstream-td.json", **kw)

    def publish(self, name: str):
        self.n += 1
        value = {"temperature": 3.25 + self.n, "humidity": 40.0 + self.n, "doorOpen": self.n % 2 == 1,
                 "serialNumber": f"SN-{self.n}"}[name]
        self.thing.set(**{name: value})
        self.last[name] = value
        return value

    def fire_event(self):
        data = {"temperature": 12.5}
        # The source's long poll may not be waiting yet: emit until it is seen (the suite waits).
        self.thing.emit("overheated", data)
        return "overheated", {"data": data}

    def close(self) -> None:
        self.thing.close()


class MqttHarness(Harness):
    kind = "mqtt"

    def __init__(self, request, tmp_path):
        self.host, self.port = request.getfixturevalue("mqtt_broker")
        self.pub = Publisher(self.host, self.port)
        self.prefix = f"thingbid-test/{uuid.uuid4().hex[:12]}"
        self.last: dict = {}
        self.n = 0
        self.secrets = (self.prefix, "zigbee2mqtt")

    def make(self, **kw):
        from device_agent.sources.mqtt import MqttSource

        p = self.prefix
        mapping = {"properties": {
            "temperature": {"topic": f"{p}/zigbee2mqtt/kitchen", "path": "temperature", "type": "number",
                            "unit": "degree Celsius", "title": "Kitchen temperature"},
            "humidity": {"topic": f"{p}/zigbee2mqtt/kitchen", "path": "humidity", "type": "number", "unit": "percent"},
            "power": {"topic": f"{p}/tele/plug/SENSOR", "path": "ENERGY.Power", "type": "number", "unit": "watt"},
            "relay": {"topic": f"{p}/stat/plug/POWER", "type": "boolean"},
        }, "events": {"button": {"topic": f"{p}/zigbee2mqtt/button/action"}}}
        return MqttSource(f"mqtt://{self.host}:{self.port}", mapping, title="Kitchen sensor",
                          device_type="TemperatureSensor", **kw)

    def publish(self, name: str):
        self.n += 1
        p = self.prefix
        if name in ("temperature", "humidity"):
            payload = {"temperature": 19.5 + self.n, "humidity": 50.0 + self.n, "linkquality": 120}
            self.pub.publish(f"{p}/zigbee2mqtt/kitchen", payload)
            self.last.update(temperature=payload["temperature"], humidity=payload["humidity"])
        elif name == "power":
            self.pub.publish(f"{p}/tele/plug/SENSOR", {"Time": "2026-01-01T00:00:00", "ENERGY": {"Power": 100 + self.n}})
            self.last["power"] = 100 + self.n
        else:
            self.pub.publish(f"{p}/stat/plug/POWER", "ON" if self.n % 2 else "OFF")
            self.last["relay"] = self.n % 2 == 1
        return self.last[name]

    def fire_event(self):
        self.pub.publish(f"{self.prefix}/zigbee2mqtt/button/action", {"action": "single"})
        return "button", {"data": {"action": "single"}}

    def close(self) -> None:
        self.pub.close()


HARNESSES = {"simulator": SimulatorHarness, "wot": WotHarness, "mqtt": MqttHarness}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request, tmp_path):
    h = HARNESSES[request.param](request, tmp_path)
    yield h
    h.close()


@pytest.fixture
def recorder(tmp_path):
    from device_agent.recorder import Recorder

    rec = Recorder(tmp_path / "recording.db")
    yield rec
    rec.close()
