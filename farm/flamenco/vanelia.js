// SPDX-License-Identifier: GPL-3.0-or-later
//
// Vanelia job type for Flamenco 3: put a product (GLB) into a tracked plate on a render farm.
// Install: copy this file into the `scripts/` folder next to flamenco-manager.
//
// Tasks (all call Vanelia's own headless scripts, from a checkout on shared storage):
//   setup      vanelia_batch.py render --setup-only      task type "blender"
//   render-*   vanelia_batch.py render-shot --frames A:B  task type "blender", one per chunk
//   prepare    vanelia_farm.py prepare                    task type "vanelia"
//   stages-*   vanelia_farm.py stages --frames A:B        task type "vanelia-gpu", one per chunk
//   finish     vanelia_farm.py finish [--output MP4]      task type "vanelia"
//
// GPU routing: a Flamenco worker only takes tasks whose type is in its `task_types`, so GPU
// workers list "vanelia-gpu" (and render workers "blender"). Worker tags are per job in
// Flamenco: to keep the stages on tagged GPU workers, submit the job twice, part "render" and
// part "stages" with the GPU tag; the stages part waits for nothing, so submit it once the
// render part is done (its `prepare` refuses a shot that is not rendered).
// Chunks of the stages may be any size: each task feeds its engines the context frames they
// need (overlap), so the frames equal a single-machine run.

const JOB_TYPE = {
    label: "Vanelia",
    description: "Render a product into a tracked plate and run Vanelia's stages, chunked over the farm",
    settings: [
        { key: "vanelia_root", type: "string", subtype: "dir_path", required: true,
          description: "Vanelia checkout on shared storage (holds scripts/vanelia_batch.py)" },
        { key: "python", type: "string", default: "python3",
          description: "Python of the Vanelia sidecar environment on the workers" },
        { key: "render_with", type: "string", choices: ["blender", "bpy"], default: "blender",
          description: "Render with a Blender binary, or with the bpy module of that Python" },
        { key: "blender", type: "string", default: "{blender}", visible: "hidden" },
        { key: "part", type: "string", choices: ["all", "render", "stages"], default: "all",
          description: "Which tasks this job holds (split to give the stages a GPU worker tag)" },
        { key: "shot", type: "string", subtype: "dir_path", required: true,
          description: "Shot folder on shared storage (created by the setup task)" },
        { key: "plate", type: "string", subtype: "file_path", description: "Plate video or image folder" },
        { key: "model", type: "string", subtype: "file_path", description: "Product .glb" },
        { key: "camera", type: "string", subtype: "file_path", description: "Camera track (transforms.json, COLMAP)" },
        { key: "frames", type: "string", required: true, description: "Frame range, e.g. '1-48'" },
        { key: "resolution", type: "string", default: "", description: "WxH (empty: the plate's)" },
        { key: "samples", type: "int32", default: 32 },
        { key: "render_chunk_size", type: "int32", default: 8, description: "Frames per render task" },
        { key: "stage_chunk_size", type: "int32", default: 16, description: "Frames per stage task" },
        { key: "job", type: "string", default: '{"stages": ["composite"]}',
          description: "Vanelia job spec (JSON): stages, engines, params, seed" },
        { key: "device", type: "string", default: "cuda", description: "Device of the stage tasks" },
        { key: "output", type: "string", subtype: "file_path", default: "", description: "Final .mp4 (optional)" },
    ],
};

function compileJob(job) {
    const s = job.settings;
    checkSettings(s);
    const render = s.part !== "stages";
    const stages = s.part !== "render";
    let last = [];
    if (render) {
        const setup = batchTask(s, "setup", setupArgs(s));
        job.addTask(setup);
        last = [];
        for (const chunk of frameChunker(s.frames, s.render_chunk_size)) {
            const t = batchTask(s, `render-${chunk}`, ["render-shot", "--shot", s.shot, "--frames", blenderRange(chunk)]);
            t.addDependency(setup);
            job.addTask(t);
            last.push(t);
        }
    }
    if (stages) {
        const prepare = farmTask(s, "prepare", "vanelia", ["prepare"]);
        dependOn(prepare, last);
        job.addTask(prepare);
        const chunks = [];
        for (const chunk of frameChunker(s.frames, s.stage_chunk_size)) {
            const t = farmTask(s, `stages-${chunk}`, "vanelia-gpu", ["stages", "--frames", blenderRange(chunk), "--device", s.device]);
            t.addDependency(prepare);
            job.addTask(t);
            chunks.push(t);
        }
        const finish = farmTask(s, "finish", "vanelia", s.output ? ["finish", "--output", s.output] : ["finish"]);
        dependOn(finish, chunks);
        job.addTask(finish);
    }
}

function checkSettings(s) {
    if (s.part !== "stages" && !(s.plate && s.model && s.camera)) {
        throw "the render part needs 'plate', 'model' and 'camera'";
    }
    if (!(s.render_chunk_size > 0 && s.stage_chunk_size > 0)) {
        throw "chunk sizes must be positive";
    }
    try {
        JSON.parse(s.job);
    } catch (e) {
        throw `'job' is not JSON: ${e}`;
    }
}

function setupArgs(s) {
    const args = ["render", "--setup-only", "--plate", s.plate, "--model", s.model, "--camera", s.camera,
                  "--shot", s.shot, "--frames", blenderRange(s.frames), "--samples", String(s.samples)];
    if (s.resolution) {
        args.push("--resolution", s.resolution);
    }
    return args;
}

// One Blender step of vanelia_batch.py: with the Blender binary, or with the bpy module.
function batchTask(s, name, stepArgs) {
    const script = path.join(s.vanelia_root, "scripts", "vanelia_batch.py");
    const task = author.Task(name, "blender");
    if (s.render_with === "bpy") {
        task.addCommand(author.Command("exec", { exe: s.python, args: [script].concat(stepArgs) }));
    } else {
        task.addCommand(author.Command("exec", {
            exe: s.blender,
            args: ["-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--"].concat(stepArgs),
        }));
    }
    return task;
}

function farmTask(s, name, type, taskArgs) {
    const task = author.Task(name, type);
    task.addCommand(author.Command("exec", {
        exe: s.python,
        args: [path.join(s.vanelia_root, "scripts", "vanelia_farm.py")].concat(taskArgs, ["--shot", s.shot, "--job", s.job]),
    }));
    return task;
}

function dependOn(task, others) {
    for (const o of others) {
        task.addDependency(o);
    }
}

// Flamenco's chunk notation '1-8' (or '1-3,5') -> Vanelia's '1:8' ('1:3,5').
function blenderRange(chunk) {
    return String(chunk).split(",").map((p) => p.trim().replace("-", ":")).join(",");
}
