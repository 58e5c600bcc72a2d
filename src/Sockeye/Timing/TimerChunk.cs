namespace Sockeye.Timing;

/// <summary>
/// A fixed block of <see cref="Size"/> slots and their owners. Chunks never move or shrink, so a
/// connection can keep a reference to its chunk and write its slot without a lock while the table
/// grows.
/// </summary>
internal sealed class TimerChunk
{
    /// <summary>Slots per chunk: 24 KiB of slots, small enough to add one without a pause.</summary>
    public const int Size = 1024;

    public TimerChunk(int firstSlot)
    {
        FirstSlot = firstSlot;
        Array.Fill(Slots, TimerSlot.Empty);
    }

    /// <summary>The table-wide number of this chunk's first slot.</summary>
    public int FirstSlot { get; }

    /// <summary>The expiry hints, indexed like <see cref="Owners"/>.</summary>
    public TimerSlot[] Slots { get; } = new TimerSlot[Size];

    /// <summary>The connection that owns each slot; <see langword="null"/> for a free slot.</summary>
    public IDeadlineTarget?[] Owners { get; } = new IDeadlineTarget?[Size];
}
