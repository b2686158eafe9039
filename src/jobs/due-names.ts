// Agenda's poll on a server whose lock query reads the whole jobs collection (FerretDB 1.24).
//
// Every JOB_POLL_INTERVAL a worker asks for the next job of every job name it runs, one findAndModify per name
// (eleven with every group), and again after each job it locks. On MongoDB each is an index lookup. On FerretDB
// 1.24 each reads and filters in Go every job document (on SQLite, which pushes down only `_id`) or every job of
// that name (on PostgreSQL), and on SQLite each takes its turn at the one writer the API's writes also wait for.
// Measured on SQLite: one lock query 25 ms over 600 job documents, so an idle worker spent about 550 ms of the
// database's time per second polling, and confirmation emails waited seconds behind it (email-latency p95 10 s).
// On PostgreSQL, 178 ms per lock with 5,000 jobs of the name: a backlog of 10,000 webhook deliveries went at 1 to
// 2.5 a second.
//
// What this repository changes, and only where the server is FerretDB (DatabaseCapabilities.indexedJobLocks):
//  - one `distinct` per poll (Agenda's filter, for every name at once) says which names have a job to lock; the
//    others are not asked. A job this process saves (or schedules, agenda.ts) to run before the next poll makes its
//    name due at once, so
//    Agenda's in-process notifications still run it without waiting; jobs other processes schedule are seen at
//    the next poll, as before;
//  - one scan of a due name reads its next CANDIDATES jobs in Agenda's order, and each is then locked by its _id
//    on Agenda's own conditions (Agenda's `lockJob`), which FerretDB finds by its index;
//  - one lock at a time per name in this process (getNextJobToRun);
//  - no state save at the end of a successful run of a job removed on success (saveJobState).
// Nothing runs later than it did, and what a lock takes is what Agenda's own query would take.
//
// Written here because Agenda has no hook for it: its backend's repository is the one place every lock query goes
// through, so this subclasses the MongoDB backend's and hands Agenda a backend holding it.
import type { AgendaBackend, JobParameters } from 'agenda';
import { MongoJobRepository, type MongoJobRepositoryConfig } from '@agendajs/mongo-backend';

type NextJobArgs = Parameters<MongoJobRepository['getNextJobToRun']>;
type SaveJobArgs = Parameters<MongoJobRepository['saveJob']>;
type Candidate = { _id: unknown; nextRunAt: Date | null; lockedAt: Date | null };
/** What a read found, when (`at`: when it ended, or began while it runs) and how long it took (none while it runs). */
type Answer<T> = { at: number; tookMs?: number; value: T };

/** How many due jobs of a name one scan reads (a worker locks at most lockLimit, 20 to 40, per name per poll). */
const CANDIDATES = 50;

/** Agenda's lock filter (MongoJobRepository.getNextJobToRun) without its name: unlocked and due, or its lock expired. */
const dueFilter = (nextScanAt: Date, lockDeadline: Date) => ({
  disabled: { $ne: true },
  $or: [{ lockedAt: { $eq: null }, nextRunAt: { $lte: nextScanAt } }, { lockedAt: { $lte: lockDeadline } }],
});

export class DueNamesRepository extends MongoJobRepository {
  /** The names with a job to lock, as of `at` (a promise: the concurrent calls of one poll share one query). */
  private due?: Answer<Promise<Set<string>>>;
  /** When this process last saved a job of the name due before the next poll (read with the answer above). */
  private readonly savedAt = new Map<string, number>();
  /** Per name, the due jobs read by its last scan and not yet tried (see dueJobs). */
  private readonly candidates = new Map<string, Answer<Candidate[]>>();
  /** The lock query of each name in flight in this process (see getNextJobToRun). */
  private readonly locking = new Map<string, Promise<unknown>>();

  constructor(
    config: MongoJobRepositoryConfig,
    /** How long one answer serves: shorter than the poll interval, so each poll asks once. */
    private readonly freshForMs: number,
    /** Whether a successful run of the job named is removed (`removeOnComplete`): asked at run time, of the agenda
     *  this repository is built for (which holds the definitions, and is made after it). */
    private readonly removedOnSuccess: (name: string) => boolean,
  ) {
    super(config);
  }

  /**
   * The next job of one name, locked; one at a time per name in this process. Agenda starts one per poll and one per
   * in-process notification without waiting for the one in flight (its `isJobQueueFilling` is never read), and a
   * fill that locks several jobs on a slow server outlasts the poll interval; FerretDB 1.24 does not apply a
   * findAndModify atomically, so two at once locked the same job and the worker ran it twice (measured: 1.7 lock
   * queries and 1.6 reservation reads per email sent). In turn, the second finds the first one's lock.
   * (Across workers FerretDB can still hand one job to two; every handler is safe to run twice, agenda.ts.)
   */
  override async getNextJobToRun(...args: NextJobArgs): Promise<JobParameters | undefined> {
    const jobName = args[0];
    const previous = this.locking.get(jobName) ?? Promise.resolve();
    const mine = previous.then(
      () => this.lockNext(args),
      () => this.lockNext(args),
    );
    this.locking.set(jobName, mine);
    try {
      return await mine;
    } finally {
      if (this.locking.get(jobName) === mine) this.locking.delete(jobName);
    }
  }

  private async lockNext(args: NextJobArgs): Promise<JobParameters | undefined> {
    const [jobName, nextScanAt, lockDeadline, , options] = args;
    let scanStarted = Number.POSITIVE_INFINITY;
    for (let scanned = false; ; ) {
      let list = this.candidates.get(jobName);
      if (!list || list.value.length === 0 || !this.fresh(list)) {
        // Only a name without jobs read and not yet tried asks whether it has any.
        if (scanned || !(await this.isDue(jobName, nextScanAt, lockDeadline))) break;
        scanned = true;
        const started = Date.now();
        scanStarted = started;
        const ids = await this.dueJobs(jobName, nextScanAt, lockDeadline);
        list = { at: Date.now(), tookMs: Date.now() - started, value: ids };
        this.candidates.set(jobName, list);
      }
      const candidate = list.value.shift();
      if (!candidate) break;
      // A job whose lock expired (its worker died) is Agenda's own query's to take; the rest are locked by id, on
      // the same conditions (still unlocked, still due when it was read), which FerretDB finds by its _id index.
      const job = candidate.lockedAt
        ? await super.getNextJobToRun(...args)
        : await this.lockJob({ _id: String(candidate._id), name: jobName, nextRunAt: candidate.nextRunAt } as JobParameters, options);
      if (job) return job;
    }
    // Nothing to lock: not asked again until the next answer, unless this process saves one of its jobs after the
    // scan began (that job may not be in it).
    if ((this.savedAt.get(jobName) ?? 0) < scanStarted) {
      this.savedAt.delete(jobName);
      void this.due?.value.then((names) => names.delete(jobName));
    }
    return undefined;
  }

  private async isDue(name: string, nextScanAt: Date, lockDeadline: Date): Promise<boolean> {
    const saved = this.savedAt.get(name);
    if (saved !== undefined) return true;
    return (await this.dueNames(nextScanAt, lockDeadline)).has(name);
  }

  /**
   * Whether an answer read at `at` in `tookMs` still serves: for half a poll interval, and for twice as long as it
   * took to read, so that however large the collection grows these reads take at most a third of the server's time
   * (on PostgreSQL with 10,000 waiting jobs a `distinct` took a second; asked again every 250 ms, the reads piled up
   * and a backlog of webhook deliveries stopped moving). At the default poll every answer serves one poll only
   * unless a read takes over 125 ms.
   */
  private fresh({ at, tookMs }: Answer<unknown>): boolean {
    // Still being read (no time yet): it serves, so that one read at a time is made.
    return tookMs === undefined || Date.now() - at < Math.max(this.freshForMs, 2 * tookMs);
  }

  /**
   * The next jobs of `name` Agenda's lock query would take, in its order, read once for the next CANDIDATES locks:
   * the scan FerretDB makes of every job of the name is paid once per CANDIDATES jobs, not once per job (measured
   * on PostgreSQL: 178 ms per lock query with 5,000 jobs of the name; a lock by _id, 5 ms).
   */
  private async dueJobs(name: string, nextScanAt: Date, lockDeadline: Date): Promise<Candidate[]> {
    return (await this.collection
      .find(
        { name, ...dueFilter(nextScanAt, lockDeadline) },
        { projection: { _id: 1, nextRunAt: 1, lockedAt: 1 }, sort: { nextRunAt: 1, priority: -1 }, limit: CANDIDATES },
      )
      .toArray()) as Candidate[];
  }

  override async saveJob<DATA = unknown>(...args: SaveJobArgs): Promise<JobParameters<DATA>> {
    const saved = await super.saveJob<DATA>(...(args as [JobParameters<DATA>, SaveJobArgs[1]]));
    this.markDue(saved);
    return saved;
  }

  override async saveJobState(...args: Parameters<MongoJobRepository['saveJobState']>): Promise<void> {
    // The state saved at the end of a successful one-time run of a job Agenda removes on success: the removal
    // follows at once, so the write is only another turn at FerretDB's writer (a quarter of a sent email's job
    // writes). Should the removal fail, the job keeps the lock of the run and runs again once it expires, as after
    // a crash: every handler is safe to run twice (agenda.ts).
    if (this.finishedAndRemoved(args[0])) return;
    await super.saveJobState(...args);
    this.markDue(args[0]);
  }

  private finishedAndRemoved(job: JobParameters): boolean {
    const { lastRunAt, lastFinishedAt, failedAt } = job;
    return (
      !job.nextRunAt &&
      !job.lockedAt &&
      !!lastRunAt &&
      !!lastFinishedAt &&
      new Date(lastFinishedAt) >= new Date(lastRunAt) &&
      !(failedAt && new Date(failedAt) >= new Date(lastRunAt)) &&
      this.removedOnSuccess(job.name)
    );
  }

  /** A job this process scheduled without Agenda's save (AgendaScheduler's one insert): as after a save, below. */
  jobScheduled(job: Pick<JobParameters, 'name' | 'nextRunAt' | 'disabled'>): void {
    this.markDue(job);
  }

  /** A job this process made due before the next poll: its name is asked at once. */
  private markDue(job: Pick<JobParameters, 'name' | 'nextRunAt' | 'disabled'>): void {
    if (job.disabled || !job.nextRunAt) return;
    if (new Date(job.nextRunAt).getTime() > Date.now() + this.freshForMs * 2) return;
    this.savedAt.set(job.name, Date.now());
  }

  private dueNames(nextScanAt: Date, lockDeadline: Date): Promise<Set<string>> {
    if (this.due && this.fresh(this.due)) return this.due.value;
    const started = Date.now();
    const names = this.collection
      .distinct('name', dueFilter(nextScanAt, lockDeadline))
      .then((found) => {
        due.at = Date.now();
        due.tookMs = due.at - started;
        return new Set(found.map(String));
      });
    const due: Answer<Promise<Set<string>>> = { at: started, value: names };
    this.due = due;
    // A failed query is not kept: the next call asks again (and Agenda reports the error as for its own query).
    names.catch(() => {
      if (this.due === due) this.due = undefined;
    });
    return names;
  }
}

/** Agenda's MongoDB backend with the repository above (no notification channel, the connection not its own). */
export function dueNamesBackend(
  config: MongoJobRepositoryConfig,
  pollIntervalMs: number,
  removedOnSuccess: (name: string) => boolean,
): AgendaBackend & { repository: DueNamesRepository } {
  const repository = new DueNamesRepository(config, Math.max(1, Math.floor(pollIntervalMs / 2)), removedOnSuccess);
  return {
    name: 'MongoDB (lock queries only for due job names)',
    repository,
    ownsConnection: false,
    connect: () => repository.connect(),
    disconnect: () => repository.disconnect(),
  };
}
