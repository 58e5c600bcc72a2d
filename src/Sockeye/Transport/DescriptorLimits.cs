using System.Globalization;

namespace Sockeye.Transport;

/// <summary>
/// Reads the process's file-descriptor limit and usage on Linux, so the server can keep a reserve.
/// </summary>
/// <remarks>
/// The reserve matters more in .NET than in Go: the runtime needs descriptors of its own at awkward
/// moments (a pipe for every new thread, two for every assembly it loads), and when it cannot get one
/// it does not fail politely: a thread-pool thread that cannot be created ends the process with
/// "Out of memory." (seen here with <c>ulimit -n 128</c> under a connection burst). So connections
/// must never take the last descriptors.
/// </remarks>
internal static class DescriptorLimits
{
    /// <summary>The soft <c>RLIMIT_NOFILE</c> (<c>ulimit -n</c>), or <see langword="null"/> where unknown.</summary>
    public static long? SoftLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    return long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>How many descriptors the process holds now, or <see langword="null"/> where unknown.</summary>
    public static int? OpenCount()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The lowest descriptor number a new connection may have: the kernel hands out the lowest free
    /// number, so a socket numbered at or above <c>limit - reserve</c> means fewer than
    /// <paramref name="reserve"/> descriptors are left. <see cref="int.MaxValue"/> where the limit is unknown.
    /// </summary>
    public static int Ceiling(int reserve) =>
        SoftLimit() is { } limit ? (int)Math.Clamp(limit - reserve, 1, int.MaxValue) : int.MaxValue;

    /// <summary>System-wide descriptors: the limit (<c>fs.file-max</c>) and how many are allocated now
    /// (<c>/proc/sys/fs/file-nr</c>), or <see langword="null"/> where unknown.</summary>
    public static (long FileMax, long Allocated)? SystemFiles()
    {
        var max = ReadNumbers("/proc/sys/fs/file-max");
        var nr = ReadNumbers("/proc/sys/fs/file-nr");
        return max is [var fileMax, ..] && nr is [var allocated, ..] ? (fileMax, allocated) : null;
    }

    /// <summary>The kernel's cap on a listening socket's accept queue (<c>net.core.somaxconn</c>), or
    /// <see langword="null"/> where unknown.</summary>
    public static int? SoMaxConn() =>
        ReadNumbers("/proc/sys/net/core/somaxconn") is [var value, ..] ? (int)Math.Min(value, int.MaxValue) : null;

    private static long[]? ReadNumbers(string path)
    {
        try
        {
            var fields = File.ReadAllText(path).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
            var values = new long[fields.Length];
            for (var i = 0; i < fields.Length; i++)
            {
                if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
                {
                    return null;
                }
            }

            return values;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
