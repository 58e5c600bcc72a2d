namespace Sockeye.Hosting;

/// <summary>
/// The listeners the host started, by name: inject it to read a listener's port, state or counters.
/// Empty until the host has started.
/// </summary>
/// <remarks>Safe to read from any thread once the host has started.</remarks>
public sealed class SockeyeListeners
{
    private volatile SockeyeListener[] _listeners = [];

    // Only AddSockeye creates it: one made elsewhere would never be filled.
    internal SockeyeListeners()
    {
    }

    /// <summary>How many listeners are running.</summary>
    public int Count => _listeners.Length;

    /// <summary>The listener called <paramref name="name"/> (compared without case).</summary>
    /// <param name="name">The listener's name.</param>
    /// <exception cref="KeyNotFoundException">No listener has that name.</exception>
    public SockeyeListener this[string name] =>
        _listeners.FirstOrDefault(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new KeyNotFoundException($"no Sockeye listener is called '{name}' (running: {string.Join(", ", _listeners.Select(l => l.Name))})");

    /// <summary>Every running listener, in the order they started.</summary>
    public IReadOnlyList<SockeyeListener> All => _listeners;

    /// <summary>
    /// Reads the TLS certificate files of every TCP listener that serves TLS again, as
    /// <see cref="TcpServer.ReloadTlsCertificates"/> does for one: new connections get the new
    /// certificates, open ones keep theirs. A listener whose files fail to load (missing, half
    /// written) keeps its current certificates and logs why. Call it from a SIGHUP handler, an admin
    /// command, or after a renewal; the listeners also reload by themselves when their files change,
    /// unless <see cref="Security.TlsOptions.ReloadOnFileChange"/> is off.
    /// </summary>
    /// <returns>How many listeners now use new certificates; listeners without TLS, and UDP ones, are skipped.</returns>
    /// <remarks>Safe to call from any thread once the host has started; before, there is nothing to reload.</remarks>
    public int ReloadTlsCertificates() => _listeners.Count(l => l.ReloadTlsCertificates());

    internal void Set(SockeyeListener[] listeners) => _listeners = listeners;
}
