// node-postgres (pg, from npm): what the application sees when leakguard
// ends a session idle in transaction (25P03), an idle session (57P05), or
// refuses a connection beyond a quota (53300); and the Pool trap: a pooled
// client ended while idle emits 'error' on the Pool, which crashes the Node
// process unless the application listens for it (pool.on('error', ...)).
//
// Run with NODE_PATH naming the node_modules holding pg; LG_HOST, LG_PORT
// name the server. "node node_client.js bare-pool" is the child process of
// the Pool-without-listener scenario.
'use strict';
const { Client, Pool } = require('pg');
const { spawn } = require('child_process');

const conn = { host: process.env.LG_HOST, port: Number(process.env.LG_PORT), database: 'postgres' };
const app = (name) => ({ ...conn, user: 'drv', application_name: name });

function check(what, cond, got) {
    console.log((cond ? 'ok - ' : 'not ok - ') + what +
                (cond || got === undefined ? '' : ' (got ' + JSON.stringify(got) + ')'));
}

async function admin(sql, args) {
    const c = new Client({ ...conn, user: 'postgres', application_name: 'lg-admin' });
    await c.connect();
    try {
        return (await c.query(sql, args)).rows[0].v;
    } finally {
        await c.end();
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Wait, with a 30 s deadline, until leakguard has ended every session of
// the application with a history row of this kind.
async function waitTerminated(name, kind) {
    const end = Date.now() + 30000;
    while (Date.now() < end) {
        if (await admin(`SELECT EXISTS (SELECT FROM leakguard.terminations
                                         WHERE application_name = $1 AND kind = $2 AND action = 'terminated')
                            AND NOT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = $1) AS v`,
                        [name, kind]))
            return;
        await sleep(100);
    }
    throw new Error(`${kind} termination of ${name}: not seen after 30 s`);
}

async function waitFor(cond, what) {
    const end = Date.now() + 30000;
    while (Date.now() < end) {
        if (cond())
            return;
        await sleep(50);
    }
    throw new Error(`${what}: not true after 30 s`);
}

// A Client ended while idle: node-postgres reads the FATAL at once and
// emits it as an 'error' event on the client (sqlstate, message, detail);
// the next query is rejected with 'Client has encountered a connection
// error and is not queryable'.
async function endedWhileIdle(name, kind, code, text, inTx) {
    const c = new Client(app(name));
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    await c.query(inTx ? 'BEGIN' : 'SELECT 1');
    await waitTerminated(name, kind);
    await waitFor(() => errors.length > 0, `'error' event of ${name}`);
    const e = errors[0];
    check(`node-postgres ${code}: 'error' event on the Client with code ${code}`, e.code === code, e.code);
    check(`node-postgres ${code}: message and leakguard detail`,
          e.message === text && (e.detail || '').startsWith(`leakguard terminated this session of application "${name}"`),
          [e.message, e.detail]);
    try {
        await c.query('SELECT 1');
        check(`node-postgres ${code}: the next query fails`, false);
    } catch (e2) {
        check(`node-postgres ${code}: the next query is rejected as not queryable, without code`,
              /not queryable/.test(e2.message) && e2.code === undefined, [e2.message, e2.code]);
    }
}

async function barePoolChild() {
    const pool = new Pool({ ...app('idle-node-bare-pool'), max: 1, idleTimeoutMillis: 0 });
    await pool.query('SELECT 1');
    // Still running after 30 s: leakguard did not end the pooled client, or
    // its 'error' did not crash the process.
    setTimeout(() => process.exit(0), 30000);
}

async function main() {
    await endedWhileIdle('iit-node', 'idle in transaction', '25P03',
                         'terminating connection due to idle-in-transaction timeout', true);
    await endedWhileIdle('idle-node', 'idle', '57P05',
                         'terminating connection due to idle-session timeout', false);

    const held = new Client(app('quota-node'));
    await held.connect();
    try {
        const second = new Client(app('quota-node'));
        await second.connect();
        check('node-postgres 53300: the second connection is refused', false);
        await second.end();
    } catch (e) {
        check('node-postgres 53300: connect() rejects with code 53300 and the leakguard detail',
              e.code === '53300' && (e.detail || '').startsWith('leakguard allows application "quota-node"'),
              [e.code, e.detail]);
    }
    await held.end();

    // A Pool without an 'error' listener: the process dies.
    const child = spawn(process.execPath, [__filename, 'bare-pool'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const status = await new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    check('node-postgres Pool without pool.on(\'error\'): the process crashes (exit status 1)', status === 1, status);
    check('node-postgres Pool without pool.on(\'error\'): unhandled \'error\' event, 57P05',
          /Unhandled 'error' event/.test(stderr) && /57P05/.test(stderr), stderr.slice(0, 400));

    // With the listener: the error is reported there, the pool drops the
    // client, and the next query gets a new connection.
    const pool = new Pool({ ...app('idle-node-pool'), max: 1, idleTimeoutMillis: 0 });
    const poolErrors = [];
    pool.on('error', (e) => poolErrors.push(e));
    await pool.query('SELECT 1');
    await waitTerminated('idle-node-pool', 'idle');
    await waitFor(() => poolErrors.length > 0, "the Pool's 'error' event");
    check("node-postgres Pool with pool.on('error'): the listener gets 57P05 and the detail",
          poolErrors[0].code === '57P05' && /^leakguard terminated/.test(poolErrors[0].detail || ''),
          [poolErrors[0].code, poolErrors[0].detail]);
    check("node-postgres Pool with pool.on('error'): the ended client is removed from the pool",
          pool.totalCount === 0, pool.totalCount);
    try {
        const r = await pool.query('SELECT 1 AS one');
        check("node-postgres Pool with pool.on('error'): the next query gets a new connection", r.rows[0].one === 1);
    } catch (e) {
        check("node-postgres Pool with pool.on('error'): the next query gets a new connection", false, e.message);
    }
    await pool.end();
}

if (process.argv[2] === 'bare-pool')
    barePoolChild();
else
    main().then(() => process.exit(0), (e) => {
        console.log('not ok - node-postgres: unexpected ' + (e.stack || e));
        process.exit(1);
    });
