using System.Diagnostics;

namespace Sockeye.Samples.Kv.Store;

/// <summary>
/// One database: a dictionary of keys, with expiry that is lazy (a key read after its time is deleted
/// then) and active (<see cref="SweepExpired"/> deletes keys whose time has come, in time order, at a cost
/// of O(expired)), and a slot array that gives SCAN a cursor.
/// </summary>
/// <remarks>
/// <para>Why one lock (<see cref="KvServer.Lock"/>, shared by the 16 databases) and not a lock-free map
/// or a shard per core: Redis's commands are atomic (INCR, MSET, SPOP, LPUSH of many values, SET ... GET),
/// and one lock gives exactly that with plain collections. The handler takes it once per read, for every
/// command that read holds, so a pipelined batch pays one acquisition. Measured against both: on one
/// thread (Kv pinned to one core, as redis-server) the lock is the cheapest; from two threads at once the
/// dearest (samples/Kv/README.md; BENCHMARKS.md, "Kv's keyspace"). A lock-free dictionary would still
/// need a lock per list, hash or set value for the compound commands.</para>
/// <para><b>SCAN's cursor.</b> Besides the dictionary, every entry sits at a fixed index of a slot array
/// (<see cref="Entry.Slot"/>) from its creation to its deletion; a deleted key leaves a hole that a later
/// key may fill (a free list), and the array is emptied when the database is. A cursor is the next index
/// to look at, so one SCAN call looks at O(COUNT) slots and a key present for the whole iteration, never
/// moving, is returned exactly once. A key added during it may or may not be returned (it may fill a hole
/// behind the cursor), as Redis allows. Holes are never compacted (moving a key could jump it over a
/// cursor), so a full iteration costs the most keys the database held since it was last empty, as a .NET
/// Dictionary keeps its size; a Redis-style reverse-binary cursor over buckets would need a hand-written
/// hash table, since Dictionary does not expose its buckets.</para>
/// <para>Every member is to be used with <see cref="KvServer.Lock"/> held.</para>
/// </remarks>
internal sealed class Keyspace
{
    private static readonly long StartTimestamp = Stopwatch.GetTimestamp();
    private readonly Dictionary<byte[], Entry> _entries = new(ByteKeyComparer.Instance);
    private readonly Dictionary<byte[], Entry>.AlternateLookup<ReadOnlySpan<byte>> _lookup;

    // Keys by expiry time. Every key with an expiry has exactly one element here whose time is its
    // ExpiresAt (the live one); an element whose key was deleted, persisted or given another time is
    // stale. Stale elements are skipped when their time comes, and the heap is rebuilt without them once
    // they outnumber the live ones (see TrimStaleExpiries), so it holds at most 2 × ExpiresCount + 64.
    private readonly PriorityQueue<(byte[] Key, Entry Entry), long> _expiries = new();

    // Stale elements allowed on top of the live ones before a rebuild: keeps a small keyspace from
    // rebuilding at every second PERSIST.
    private const int StaleSlack = 64;

    // Entries by slot (null: a hole), and the holes to fill first.
    private readonly List<Entry?> _slots = [];
    private readonly Stack<int> _freeSlots = new();

    public Keyspace() => _lookup = _entries.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <summary>Milliseconds on a monotonic clock (TTLs are relative, so wall-clock jumps do not matter).</summary>
    public static long Now => (long)Stopwatch.GetElapsedTime(StartTimestamp).TotalMilliseconds;

    /// <summary>Keys now (some may have expired and not been swept yet, as in Redis's DBSIZE).</summary>
    public int Count => _entries.Count;

    /// <summary>Keys with an expiry time.</summary>
    public int ExpiresCount { get; private set; }

    /// <summary>Elements in the expiry heap, live and stale (for tests: it stays within 2 × <see cref="ExpiresCount"/> + 64).</summary>
    internal int ExpiryHeapCount => _expiries.Count;

    /// <summary>Every key (for KEYS and SCAN), expired ones included; the caller checks <see cref="IsLive"/>.</summary>
    public Dictionary<byte[], Entry> Entries => _entries;

    /// <summary>The live entry of <paramref name="key"/>, deleting it first if it has expired.</summary>
    public Entry? Find(ReadOnlySpan<byte> key, long now)
    {
        if (!_lookup.TryGetValue(key, out var entry))
        {
            return null;
        }

        if (IsLive(entry, now))
        {
            return entry;
        }

        Remove(key);
        return null;
    }

    /// <summary>Whether <paramref name="entry"/> has not expired at <paramref name="now"/>.</summary>
    public static bool IsLive(Entry entry, long now) => entry.ExpiresAt == 0 || entry.ExpiresAt > now;

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>, replacing any value and dropping its expiry.</summary>
    public Entry Set(ReadOnlySpan<byte> key, object value)
    {
        if (_lookup.TryGetValue(key, out var entry))
        {
            entry.Value = value;
            ClearExpiry(entry);
            return entry;
        }

        entry = new Entry(key.ToArray(), value);
        _entries.Add(entry.Key, entry);
        if (_freeSlots.TryPop(out var slot))
        {
            _slots[slot] = entry;
        }
        else
        {
            slot = _slots.Count;
            _slots.Add(entry);
        }

        entry.Slot = slot;
        return entry;
    }

    /// <summary>Deletes <paramref name="key"/>; true when it existed.</summary>
    public bool Remove(ReadOnlySpan<byte> key)
    {
        if (!_lookup.Remove(key, out _, out var entry))
        {
            return false;
        }

        ClearExpiry(entry);
        if (_entries.Count == 0)
        {
            // Empty: no key can be present throughout an iteration any more, so the slots start over.
            _slots.Clear();
            _freeSlots.Clear();
        }
        else
        {
            _slots[entry.Slot] = null;
            _freeSlots.Push(entry.Slot);
        }

        entry.Slot = -1;
        return true;
    }

    /// <summary>One SCAN step: looks at slots from <paramref name="cursor"/> on until it has found
    /// <paramref name="count"/> keys or looked at 10 × <paramref name="count"/> slots (as Redis bounds its
    /// empty buckets), adds the live entries to <paramref name="found"/> (deleting expired ones, as Redis's
    /// SCAN does) and returns the next cursor, 0 when the iteration is over.</summary>
    public ulong Scan(ulong cursor, long count, long now, List<Entry> found)
    {
        if (cursor >= (ulong)_slots.Count)
        {
            return 0;
        }

        var index = (int)cursor;
        var budget = count > long.MaxValue / 10 ? long.MaxValue : count * 10;
        long keys = 0;

        // The count is re-read each time: deleting the last key empties the slot array.
        while (index < _slots.Count && keys < count && budget-- > 0)
        {
            var entry = _slots[index++];
            if (entry is null)
            {
                continue;
            }

            keys++;
            if (IsLive(entry, now))
            {
                found.Add(entry);
            }
            else
            {
                Remove(entry.Key);
            }
        }

        return index < _slots.Count ? (ulong)index : 0;
    }

    /// <summary>Makes <paramref name="entry"/> expire at <paramref name="at"/> (<see cref="Now"/> milliseconds).</summary>
    public void SetExpiry(Entry entry, long at)
    {
        if (entry.ExpiresAt == at)
        {
            // Its live heap element already has this time: another would only be a duplicate.
            return;
        }

        if (entry.ExpiresAt == 0)
        {
            ExpiresCount++;
        }

        entry.ExpiresAt = at;
        _expiries.Enqueue((entry.Key, entry), at);
        TrimStaleExpiries();
    }

    /// <summary>Removes the expiry of <paramref name="entry"/>; true when it had one.</summary>
    public bool ClearExpiry(Entry entry)
    {
        if (entry.ExpiresAt == 0)
        {
            return false;
        }

        entry.ExpiresAt = 0;
        ExpiresCount--;
        TrimStaleExpiries();
        return true;
    }

    /// <summary>Deletes every key.</summary>
    public void Clear()
    {
        _entries.Clear();
        _slots.Clear();
        _freeSlots.Clear();
        _expiries.Clear();
        ExpiresCount = 0;
    }

    /// <summary>Deletes up to <paramref name="limit"/> keys whose time has come; returns how many it deleted.</summary>
    /// <remarks>Only due entries are looked at, so the work is O(expired + stale entries due), never a
    /// scan of the keyspace; the limit bounds how long one sweep holds the lock.</remarks>
    public int SweepExpired(long now, int limit)
    {
        var deleted = 0;
        while (deleted < limit && _expiries.TryPeek(out var due, out var at) && at <= now)
        {
            _expiries.Dequeue();

            if (IsLiveExpiry(due, at))
            {
                Remove(due.Key);
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>Whether a heap element is its key's live one: still this key's entry, still with this time.</summary>
    private bool IsLiveExpiry((byte[] Key, Entry Entry) element, long at) =>
        element.Entry.ExpiresAt == at && _lookup.TryGetValue(element.Key, out var current) && ReferenceEquals(current, element.Entry);

    /// <summary>Rebuilds the expiry heap from its live elements once the stale ones outnumber them.</summary>
    /// <remarks>Heap elements minus <see cref="ExpiresCount"/> is the number of stale ones (each key with an
    /// expiry has one live element). A rebuild is O(heap) and leaves no stale element; the next one comes
    /// only after more than ExpiresCount + 64 elements went stale, each by an O(1) EXPIRE, PERSIST, SET or
    /// DEL, so the cost is amortised O(1) per operation, and a key re-expired a million times holds one
    /// live element and at most 64 + 1 stale ones instead of a million.</remarks>
    private void TrimStaleExpiries()
    {
        if (_expiries.Count <= (2 * ExpiresCount) + StaleSlack)
        {
            return;
        }

        // An entry can have two elements with its time (EXPIRE to T1, to T2, back to T1): keep one.
        var live = new List<((byte[] Key, Entry Entry) Element, long At)>(ExpiresCount);
        var kept = new HashSet<Entry>(ExpiresCount, ReferenceEqualityComparer.Instance);
        foreach (var (element, at) in _expiries.UnorderedItems)
        {
            if (IsLiveExpiry(element, at) && kept.Add(element.Entry))
            {
                live.Add((element, at));
            }
        }

        _expiries.Clear();
        _expiries.EnqueueRange(live);
    }
}
