// A small stand-in for Flamenco Manager's job-compiler environment (its `author` module,
// `path`, `frameChunker`, `print`, settings defaults and checks), to run a job type's
// compileJob() under Node and print the authored tasks as JSON.
//
//   node flamenco_author.js JOB_TYPE.js SETTINGS.json  ->  {"tasks": [...]} on stdout
//
// Written from Flamenco's documented job-type API: author.Task(name, type),
// author.Command(name, parameters), task.addCommand, task.addDependency, job.addTask,
// frameChunker(frames, chunkSize) -> ["1-8", "9-10,15", ...].
"use strict";
const fs = require("fs");
const vm = require("vm");
const nodePath = require("path");

function parseFrames(text) {
    const out = [];
    for (const part of String(text).split(",")) {
        const p = part.trim();
        if (!p) continue;
        const m = p.match(/^(-?\d+)(?:-(-?\d+))?$/);
        if (!m) throw new Error(`frame range '${text}': cannot parse '${p}'`);
        const a = parseInt(m[1], 10), b = m[2] === undefined ? a : parseInt(m[2], 10);
        if (b < a) throw new Error(`frame range '${p}': end before start`);
        for (let f = a; f <= b; f++) out.push(f);
    }
    return Array.from(new Set(out)).sort((x, y) => x - y);
}

function compact(frames) {
    const parts = [];
    let start = frames[0], prev = frames[0];
    for (const f of frames.slice(1).concat([null])) {
        if (f !== null && f === prev + 1) { prev = f; continue; }
        parts.push(start === prev ? `${start}` : `${start}-${prev}`);
        start = prev = f;
    }
    return parts.join(",");
}

function frameChunker(frames, chunkSize) {
    const all = parseFrames(frames);
    const size = Math.max(1, chunkSize | 0);
    const chunks = [];
    for (let i = 0; i < all.length; i += size) chunks.push(compact(all.slice(i, i + size)));
    return chunks;
}

class AuthoredTask {
    constructor(name, type) { this.name = name; this.type = type; this.commands = []; this.dependencies = []; }
    addCommand(cmd) { this.commands.push(cmd); }
    addDependency(task) {
        if (!(task instanceof AuthoredTask)) throw new Error(`${this.name}: dependency is not a task`);
        this.dependencies.push(task);
    }
}

const author = {
    Task: (name, type) => {
        if (!name || !type) throw new Error("author.Task(name, type): both are required");
        return new AuthoredTask(name, type);
    },
    Command: (name, parameters) => ({ name, parameters }),
};

const path = {
    join: (...parts) => nodePath.posix.join(...parts),
    dirname: (p) => nodePath.posix.dirname(p),
    basename: (p) => nodePath.posix.basename(p),
    stem: (p) => nodePath.posix.parse(p).name,
};

function settingsWithDefaults(jobType, given) {
    const out = Object.assign({}, given);
    for (const s of jobType.settings) {
        if (out[s.key] === undefined && s.default !== undefined) out[s.key] = s.default;
        if (s.required && (out[s.key] === undefined || out[s.key] === "")) throw new Error(`setting '${s.key}' is required`);
        if (s.choices && out[s.key] !== undefined && !s.choices.includes(out[s.key]))
            throw new Error(`setting '${s.key}': '${out[s.key]}' is not one of ${s.choices.join(", ")}`);
        if (s.type === "int32" && out[s.key] !== undefined && !Number.isInteger(out[s.key]))
            throw new Error(`setting '${s.key}' must be an integer`);
    }
    return out;
}

function main() {
    const [script, settingsFile] = process.argv.slice(2);
    const ctx = vm.createContext({ author, path, frameChunker, print: (...a) => console.error(...a), JSON });
    vm.runInContext(fs.readFileSync(script, "utf8") + "\n;this.JOB_TYPE = JOB_TYPE; this.compileJob = compileJob;", ctx, { filename: script });
    const tasks = [];
    const job = {
        name: "test", created: new Date().toISOString(),
        settings: settingsWithDefaults(ctx.JOB_TYPE, JSON.parse(fs.readFileSync(settingsFile, "utf8"))),
        addTask: (t) => tasks.push(t),
    };
    try {
        ctx.compileJob(job);
    } catch (e) {
        console.error(`compileJob failed: ${e}`);
        process.exit(2);
    }
    const names = new Set();
    for (const t of tasks) {
        if (names.has(t.name)) throw new Error(`duplicate task name ${t.name}`);
        names.add(t.name);
    }
    process.stdout.write(JSON.stringify({
        label: ctx.JOB_TYPE.label,
        tasks: tasks.map((t) => ({ name: t.name, type: t.type, commands: t.commands, dependencies: t.dependencies.map((d) => d.name) })),
    }, null, 1));
}

main();
