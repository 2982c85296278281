// A standard WoT client discovers the Thingbid catalog: node-wot's exploreDirectory on the
// directory's TD, a page of /things through the TD's uriVariables, retrieveThing, and a consume
// of every Thing found. Usage: node nodewot_directory.js DIRECTORY_TD_URL
// Prints one JSON line {discovered: [id], error, page: [id], retrieved: id, consumed: [{id, title, properties}]}.
"use strict";
const { Servient } = require("@node-wot/core");
const { HttpClientFactory } = require("@node-wot/binding-http");

async function main() {
  const servient = new Servient();
  servient.addClientFactory(new HttpClientFactory());
  const WoT = await servient.start();
  const discovery = await WoT.exploreDirectory(process.argv[2]);
  const found = [];
  for await (const td of discovery) found.push(td);
  const directory = await WoT.consume(await WoT.requestThingDescription(process.argv[2]));
  const page = await (await directory.readProperty("things", { uriVariables: { offset: 2, limit: 3 } })).value();
  const retrieved = await (await directory.invokeAction("retrieveThing", undefined,
    { uriVariables: { id: found[0].id } })).value();
  const consumed = [];
  for (const td of found) {
    const thing = await WoT.consume(td);
    consumed.push({ id: thing.getThingDescription().id, title: thing.getThingDescription().title,
                    properties: Object.keys(thing.getThingDescription().properties || {}) });
  }
  process.stdout.write(JSON.stringify({
    discovered: found.map((td) => td.id), error: discovery.error ? discovery.error.message : null,
    page: page.map((td) => td.id), retrieved: retrieved.id, consumed,
  }) + "\n");
  await servient.shutdown();
}

main().then(() => process.exit(0), (e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e && e.message ? e.message : e) }) + "\n");
  process.exit(1);
});
