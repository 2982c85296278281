// A real node-wot ExposedThing for the source tests: an upstream smart appliance.
// For the source tests and `device-agent bench` (proxy_read).
// Usage: node device_agent/sources/upstream_thing.js PORT <nosec|basic|bearer> [secret...]
// Prints one JSON line {"td": URL} when exposed; then reads JSON lines on stdin:
//   {"set": {"temperature": 21.5}}   the next reads answer these values
//   {"emit": "overheated", "data": {...}}   emits the event (long-poll subscribers get it)
// Each command is acknowledged with {"ok": <command>} on stdout.
"use strict";
const { Servient } = require("@node-wot/core");
const { HttpServer } = require("@node-wot/binding-http");
const readline = require("readline");

const [port, auth, a, b] = process.argv.slice(2);
const THING_ID = "urn:dev:ops:kitchen-sensor-serial-4711";
// baseUri: the hrefs name the loopback address (node-wot would list every interface's address).
const baseUri = `http://127.0.0.1:${port}`;
const config = { port: Number(port), address: "127.0.0.1", baseUri };
if (auth === "basic") config.security = [{ scheme: "basic" }];
if (auth === "bearer") {
  // node-wot 0.9.2's HttpServer cannot check bearer tokens (its check matches the scheme "Bearer"
  // while schemes are lower case, so every request is refused): the token is checked here.
  config.middleware = (req, res, next) => {
    if (req.headers.authorization !== `Bearer ${a}`) {
      res.writeHead(401, { "WWW-Authenticate": "Bearer" });
      res.end();
      return;
    }
    next();
  };
}
const servient = new Servient();
const server = new HttpServer(config);
servient.addServer(server);
if (auth === "basic") servient.addCredentials({ [THING_ID]: { username: a, password: b } });

const values = { temperature: 4.5, humidity: 41, doorOpen: false, serialNumber: "SN-4711-ALICE" };
servient.start().then(async (WoT) => {
  const td = {
    id: THING_ID,
    title: "Alice's kitchen sensor at 127.0.0.1",
    description: "Kitchen of Alice Example, Main Street 1",
    "@type": ["Thing", "TemperatureSensor"],
    properties: {
      temperature: { title: "Fridge temperature", type: "number", unit: "degree Celsius",
                     minimum: -30, maximum: 50, readOnly: true, observable: false },
      humidity: { title: "Relative humidity", type: "number", unit: "percent", minimum: 0, maximum: 100,
                  readOnly: true },
      doorOpen: { title: "Door is open", type: "boolean", readOnly: true },
      serialNumber: { title: "Serial number", type: "string", readOnly: true },
    },
    events: {
      overheated: { title: "Temperature above the limit",
                    data: { type: "object", properties: { temperature: { type: "number", unit: "degree Celsius" } } } },
    },
  };
  if (auth === "basic") {
    td.securityDefinitions = { basic_sc: { scheme: "basic", in: "header" } };
    td.security = "basic_sc";
  }
  const thing = await WoT.produce(td);
  for (const name of Object.keys(values)) thing.setPropertyReadHandler(name, async () => values[name]);
  await thing.expose();
  process.stdout.write(JSON.stringify({ td: `${baseUri}/${encodeURIComponent(THING_ID)}` }) + "\n");
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const cmd = JSON.parse(line);
    if (cmd.set) Object.assign(values, cmd.set);
    if (cmd.emit) thing.emitEvent(cmd.emit, cmd.data);
    process.stdout.write(JSON.stringify({ ok: cmd }) + "\n");
  });
  rl.on("close", () => process.exit(0));
});
