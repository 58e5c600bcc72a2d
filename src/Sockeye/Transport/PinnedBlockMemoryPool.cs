using System.Buffers;
using System.Collections.Concurrent;

namespace Sockeye.Transport;

/// <summary>
/// A pool of fixed-size blocks on the pinned object heap, for the connections' receive and send
/// buffers. Pinned because
/// every block is handed to the kernel in socket reads and writes, which would otherwise pin and
/// unpin it per operation; fixed-size so a block is reused as-is with no search.
/// </summary>
/// <remarks>
/// A block is a <see cref="BufferSegment"/>, so a connection links blocks straight into its chain of
/// received or unsent bytes. Blocks come back when those bytes are consumed or sent, so a connection
/// that is idle (waiting with a zero-byte read) holds none. The pool shrinks: <see cref="Trim"/> gives back the blocks that sat
/// unused through a whole trim interval, so memory taken for a burst is returned when load drops
/// (pools that only grow are a classic complaint: dotnet/aspnetcore#27394). Safe for concurrent use.
/// </remarks>
internal sealed class PinnedBlockMemoryPool : MemoryPool<byte>
{
    /// <summary>The size of every block: one page, like Kestrel's pool.</summary>
    public const int BlockSize = 4096;

    /// <summary>The most free blocks kept for reuse (2 MiB); a block returned beyond that is left to
    /// the garbage collector. A burst of many connections reading at once then leaves no lasting
    /// memory behind, even before <see cref="Trim"/> runs.</summary>
    public const int MaxFreeBlocks = 512;

    private readonly ConcurrentQueue<Block> _free = new();

    // Approximate counts, updated without locks; Trim uses them only to decide how much to free.
    private int _freeCount;
    private int _lowestFreeSinceTrim;
    private long _allocated;
    private volatile bool _disposed;

    /// <inheritdoc />
    public override int MaxBufferSize => BlockSize;

    /// <summary>How many blocks wait in the pool, ready for reuse.</summary>
    public int FreeBlocks => Volatile.Read(ref _freeCount);

    /// <summary>How many blocks this pool has allocated over its life (a test and benchmark figure).</summary>
    public long BlocksAllocated => Interlocked.Read(ref _allocated);

    /// <inheritdoc />
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"a block holds at most {BlockSize} bytes");
        }

        return (IMemoryOwner<byte>)RentBlock();
    }

    /// <summary>Takes a block, reused or new, as an empty segment.</summary>
    public BufferSegment RentBlock()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_free.TryDequeue(out var block))
        {
            var left = Interlocked.Decrement(ref _freeCount);
            if (left < _lowestFreeSinceTrim)
            {
                _lowestFreeSinceTrim = left;
            }

            return block;
        }

        _lowestFreeSinceTrim = 0;
        Interlocked.Increment(ref _allocated);
        return new Block(this);
    }

    /// <summary>
    /// Frees half of the blocks that stayed in the pool since the previous call (they were not needed
    /// in that interval) and starts a new interval. Call it periodically; the server does every 10 s.
    /// </summary>
    /// <returns>How many blocks were given back to the garbage collector.</returns>
    public int Trim()
    {
        var unused = Math.Max(0, Math.Min(_lowestFreeSinceTrim, FreeBlocks));
        var release = unused == 1 ? 1 : unused / 2;
        var released = 0;
        while (released < release && _free.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _freeCount);
            released++;
        }

        _lowestFreeSinceTrim = FreeBlocks;
        return released;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        _free.Clear();
        _freeCount = 0;
    }

    private void Return(Block block)
    {
        if (_disposed || Volatile.Read(ref _freeCount) >= MaxFreeBlocks)
        {
            return;
        }

        _free.Enqueue(block);
        Interlocked.Increment(ref _freeCount);
    }

    private sealed class Block(PinnedBlockMemoryPool pool) : BufferSegment(GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true)), IMemoryOwner<byte>
    {
        Memory<byte> IMemoryOwner<byte>.Memory => Array;

        public override bool IsPinned => true;

        public void Dispose() => Release();

        protected override void Return() => pool.Return(this);
    }
}
