// The label picker (hotkeys 1-9) and the small label editor (rename, colour, add).
//
// Label names are user data: they only ever reach the page through textContent and
// input.value, never innerHTML.

function labelForDigit(state, digit) {
  return state.labels.find((l) => l.hotkey === digit) || null;
}

export function pickByDigit(state, digit) {
  return labelForDigit(state, digit);
}

function swatch(colour) {
  const span = document.createElement("span");
  span.className = "label-swatch";
  span.style.backgroundColor = colour; // an invalid colour is simply ignored by the browser
  return span;
}

export function renderPicker(list, state, onPick) {
  list.replaceChildren();
  for (const label of state.labels) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "label-pick";
    button.dataset.labelId = String(label.id);
    button.setAttribute("aria-pressed", String(label.id === state.currentLabelId));
    const key = document.createElement("kbd");
    key.textContent = label.hotkey ? String(label.hotkey) : "";
    const name = document.createElement("span");
    name.className = "label-name";
    name.textContent = label.name;
    button.append(key, swatch(label.colour), name);
    button.addEventListener("click", () => onPick(label.id));
    const li = document.createElement("li");
    li.append(button);
    list.append(li);
  }
}

function editorRow(label, onSave) {
  const row = document.createElement("li");
  row.className = "label-edit-row";
  row.dataset.labelId = String(label.id);
  const name = document.createElement("input");
  name.type = "text";
  name.value = label.name;
  name.maxLength = 200;
  name.setAttribute("aria-label", "Label name");
  const colour = document.createElement("input");
  colour.type = "color";
  colour.value = /^#[0-9a-f]{6}$/i.test(label.colour) ? label.colour : "#ff00ff";
  colour.setAttribute("aria-label", "Label colour");
  const save = () => {
    const changes = {};
    if (name.value.trim() !== label.name) changes.name = name.value.trim();
    if (colour.value.toLowerCase() !== String(label.colour).toLowerCase()) {
      changes.colour = colour.value;
    }
    if (Object.keys(changes).length) onSave(label, changes);
  };
  name.addEventListener("change", save);
  colour.addEventListener("change", save);
  row.append(colour, name);
  return row;
}

export function renderEditor(list, state, onSave) {
  list.replaceChildren(...state.labels.map((label) => editorRow(label, onSave)));
}

export function attachLabelApi({ api, state, say, refresh }) {
  async function saveLabel(label, changes) {
    try {
      const data = await api.patch(`/labels/${label.id}`, changes);
      Object.assign(label, data);
      // Boxes carry the label name too; keep them in step with the rename.
      for (const box of state.boxes.values()) if (box.label_id === label.id) box.label = data.name;
      say(`Label saved: ${data.name} (${data.colour})`);
    } catch (err) {
      say(`Label not saved: ${err.message}`, "error");
    }
    refresh();
  }

  async function addLabel(name, colour) {
    try {
      const data = await api.post(`/datasets/${state.dataset.id}/labels`, { name, colour });
      state.labels.push(data);
      state.currentLabelId = data.id;
      say(`Label added: ${data.name}`);
      refresh();
      return true;
    } catch (err) {
      say(`Label not added: ${err.message}`, "error");
      return false;
    }
  }

  return { saveLabel, addLabel };
}
