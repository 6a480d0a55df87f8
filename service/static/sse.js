// chatperf's chat page: Server-Sent Events read from a fetch body (EventSource cannot POST,
// and hides the ": ping" comments the typing indicator listens for). Loaded before app.js,
// which takes readEvents from window.chatperfSSE.
"use strict";

(() => {
  function parseEvent(block) {
    let name = "message";
    const data = [];
    let comment = null;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) comment = line.slice(1).trim(); // ": ping" keep-alives
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return comment === null ? null : { name: ":comment", data: comment };
    try {
      return { name, data: JSON.parse(data.join("\n")) };
    } catch {
      return null;
    }
  }

  async function* readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r/g, "");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  }

  window.chatperfSSE = { readEvents };
})();
