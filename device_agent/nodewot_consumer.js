// A standard WoT consumer: Eclipse Thingweb node-wot reads a Thingbid device from its TD alone.
// For the WoT tests and `device-agent bench` (nodewot_read_all).
// Usage: node device_agent/nodewot_consumer.js TD_URL KEY|- [--event NAME --wait S] [--read-all N]
// KEY is the access key sent as the TD's bearer token ("-": an empty one). Prints JSON lines:
//   {"td": {id, title}}                       the TD, fetched and consumed
//   {"read": {name: value}, "errors": {name: message}}   readProperty of every property
//   {"history": output} | {"history_error": message}     the TD's history action, first property
//   {"subscribed": NAME} then {"event": data} | {"event_error": message}   with --event
//   {"read_all_ms": [..]}                     with --read-all N: N timed readAllProperties
// Then exits 0; a TD that cannot be fetched or consumed prints {"fatal": message} and exits 1.
"use strict";
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

const [tdUrl, key, ...rest] = process.argv.slice(2);
const option = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const message = (e) => (e instanceof Error ? e.message : String(e)).split("\n")[0].slice(0, 300);

async function main() {
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  const WoT = await servient.start();
  const td = await WoT.requestThingDescription(tdUrl);
  // No key: an empty bearer token (node-wot fails locally on its first request without credentials).
  servient.addCredentials({ [td.id]: { token: key === "-" ? "" : key } });
  const thing = await WoT.consume(td);
  say({ td: { id: td.id, title: td.title } });

  const read = {};
  const errors = {};
  for (const name of Object.keys(td.properties || {})) {
    try {
      read[name] = await (await thing.readProperty(name)).value();
    } catch (e) {
      errors[name] = message(e);
    }
  }
  say({ read, errors });

  if (td.actions && td.actions.history) {
    const property = Object.keys(td.properties)[0];
    try {
      say({ history: await (await thing.invokeAction("history", { property })).value() });
    } catch (e) {
      say({ history_error: message(e) });
    }
  }

  const eventName = option("--event");
  if (eventName) {
    const waitS = Number(option("--wait") || 30);
    const got = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ event_error: `no event in ${waitS} s` }), waitS * 1000);
      const done = (answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      thing
        .subscribeEvent(eventName, async (out) => {
          try {
            done({ event: await out.value() });
          } catch (e) {
            done({ event_error: message(e) });
          }
        }, (e) => done({ event_error: message(e) }))
        .then((sub) => {
          say({ subscribed: eventName });
          thing.subscription = sub;
        })
        .catch((e) => done({ event_error: message(e) }));
    });
    say(got);
  }

  const n = Number(option("--read-all") || 0);
  if (n > 0) {
    const times = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const all = await thing.readAllProperties();
      for (const out of all.values()) await out.value();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    say({ read_all_ms: times });
  }
  await servient.shutdown();
}

main().then(
  () => process.exit(0),
  (e) => {
    say({ fatal: message(e) });
    process.exit(1);
  },
);
